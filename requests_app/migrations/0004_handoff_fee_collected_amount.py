# The fee collected is kept beside the quoted one (fee_amount), no longer written over it.
# Nothing is deployed, so no earlier collection needs its amount copied here.

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0003_audit_keyed_chain"),
    ]

    operations = [
        migrations.AddField(
            model_name="exportrequest",
            name="fee_collected_amount",
            field=models.DecimalField(
                blank=True,
                decimal_places=2,
                max_digits=10,
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(0),
                    django.core.validators.MaxValueValidator(100000),
                ],
            ),
        ),
        migrations.AddField(
            model_name="exportrequest",
            name="fee_collected_currency",
            field=models.CharField(
                blank=True, choices=[("USD", "USD"), ("CAD", "CAD")], max_length=3
            ),
        ),
        migrations.AddConstraint(
            model_name="exportrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("fee_collected_amount__isnull", True),
                    ("fee_collected_amount__gte", 0),
                    _connector="OR",
                ),
                name="fee_collected_not_negative",
            ),
        ),
    ]
