import django.utils.timezone
from django.db import migrations, models
from django.db.models import F


def from_created_at(apps, schema_editor):
    # Attempts that exist already: their run started when they were created, as far as we know.
    apps.get_model("exports", "ExportJob").objects.update(run_started_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("exports", "0003_exportjob_shared_link_password"),
    ]

    operations = [
        migrations.AddField(
            model_name="exportjob",
            name="run_started_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now,
                help_text="When the attempt was last started or retried: the live rate counts "
                "from here.",
            ),
        ),
        migrations.RunPython(from_created_at, migrations.RunPython.noop),
    ]
