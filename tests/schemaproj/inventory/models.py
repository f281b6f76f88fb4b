"""Version 1: Customer has a fax number. Version 2: no fax, loyalty points,
and a new Coupon model (settings.VERSION)."""

from django.conf import settings
from django.db import models

VERSION = settings.VERSION


class Customer(models.Model):
    name = models.CharField(max_length=100)
    if VERSION == 1:
        fax = models.CharField(max_length=30, blank=True, default="")
    if VERSION >= 2:
        loyalty_points = models.IntegerField(default=0)


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    total = models.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        indexes = [models.Index(fields=["total"], name="order_total_idx")] if VERSION >= 2 else []


if VERSION >= 2:

    class Coupon(models.Model):
        code = models.CharField(max_length=20, unique=True)
