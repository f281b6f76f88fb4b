"""Version 1: Customer has a fax number. Version 2: no fax, loyalty points,
and a new Coupon model. Version 3: fields of version 2 changed in kind
(loyalty points as a float), digits (an order's total to four decimal
places) and nullability (a coupon without a code). (settings.VERSION)"""

from django.conf import settings
from django.db import models

VERSION = settings.VERSION


class Customer(models.Model):
    name = models.CharField(max_length=100)
    if VERSION == 1:
        fax = models.CharField(max_length=30, blank=True, default="")
    if VERSION == 2:
        loyalty_points = models.IntegerField(default=0)
    if VERSION >= 3:
        loyalty_points = models.FloatField(default=0)


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    if VERSION <= 2:
        total = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    else:
        total = models.DecimalField(max_digits=10, decimal_places=4, default=0)

    class Meta:
        indexes = [models.Index(fields=["total"], name="order_total_idx")] if VERSION >= 2 else []


if VERSION >= 2:

    class Coupon(models.Model):
        code = models.CharField(max_length=20, unique=True, null=VERSION >= 3)
