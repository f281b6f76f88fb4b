from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("inventory", "0003_order_total_index")]
    operations = [
        migrations.AlterField(
            model_name="customer", name="loyalty_points", field=models.FloatField(default=0)
        ),
        migrations.AlterField(
            model_name="order",
            name="total",
            field=models.DecimalField(max_digits=10, decimal_places=4, default=0),
        ),
        migrations.AlterField(
            model_name="coupon",
            name="code",
            field=models.CharField(max_length=20, unique=True, null=True),
        ),
    ]
