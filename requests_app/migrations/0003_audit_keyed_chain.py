# Events carry the id of the audit-chain key that signed them, and events about the portal
# itself (admin corrections of practices, users, roles) belong to no request. Events recorded
# before this migration were hashed without a key and no longer verify: nothing is deployed.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0002_trust_text_limits"),
    ]

    operations = [
        migrations.AddField(
            model_name="requestevent",
            name="key_id",
            field=models.CharField(default="", editable=False, max_length=16),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="requestevent",
            name="request",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="events",
                to="requests_app.exportrequest",
            ),
        ),
    ]
