from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("exports", "0002_house_one_state"),
    ]

    operations = [
        migrations.AddField(
            model_name="sourceconnection",
            name="last_test_list_sizes",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="sourceconnection",
            name="api_calls_spent",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="sourceconnection",
            name="plan_warned_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
