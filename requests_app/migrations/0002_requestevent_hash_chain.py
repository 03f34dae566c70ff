from django.db import migrations, models

from requests_app.audit_chain import GENESIS_HASH, event_digest


def link_existing_events(apps, schema_editor):
    """Chain the events recorded before the chain existed, in id order, and set its head."""
    RequestEvent = apps.get_model("requests_app", "RequestEvent")
    AuditChainHead = apps.get_model("requests_app", "AuditChainHead")
    previous, last_id = GENESIS_HASH, None
    for event in RequestEvent.objects.order_by("id").iterator(chunk_size=2000):
        digest = event_digest(event, previous)
        RequestEvent.objects.filter(pk=event.pk).update(previous_hash=previous, hash=digest)
        previous, last_id = digest, event.pk
    AuditChainHead.objects.create(pk=1, last_event_id=last_id, last_hash=previous)


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("last_event_id", models.BigIntegerField(blank=True, null=True)),
                ("last_hash", models.CharField(default=GENESIS_HASH, max_length=64)),
            ],
        ),
        migrations.AddField(
            model_name="requestevent",
            name="previous_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="requestevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(link_existing_events, migrations.RunPython.noop, elidable=False),
    ]
