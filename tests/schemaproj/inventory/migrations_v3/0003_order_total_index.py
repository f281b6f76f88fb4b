from django.db import migrations, models


class Migration(migrations.Migration):
    """Changes no field: a laptop without it can still take production's rows."""

    dependencies = [("inventory", "0002_loyalty_and_coupons")]
    operations = [
        migrations.AddIndex(
            model_name="order", index=models.Index(fields=["total"], name="order_total_idx")
        ),
    ]
