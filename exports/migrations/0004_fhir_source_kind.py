from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("exports", "0003_drchrono_plan"),
    ]

    operations = [
        migrations.AlterField(
            model_name="sourceconnection",
            name="kind",
            field=models.CharField(
                choices=[
                    ("demo", "Demo practice (synthetic data)"),
                    ("drchrono", "DrChrono API"),
                    ("fhir-bulk", "FHIR Bulk Data"),
                ],
                max_length=16,
            ),
        ),
    ]
