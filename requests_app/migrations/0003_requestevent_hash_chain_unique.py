from django.db import migrations, models


class Migration(migrations.Migration):
    """Unique links, in a migration of its own: PostgreSQL will not alter a table in the
    transaction that just updated its rows."""

    dependencies = [("requests_app", "0002_requestevent_hash_chain")]

    operations = [
        migrations.AlterField(
            model_name="requestevent",
            name="previous_hash",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
        migrations.AlterField(
            model_name="requestevent",
            name="hash",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
    ]
