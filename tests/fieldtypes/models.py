"""Every kind of primary key, references to them, and natural keys: what a
round trip through synctool must keep at least as well as dumpdata/loaddata
(in the spirit of Django's own serializer tests)."""

import uuid

from django.db import models


class CharPK(models.Model):
    id = models.CharField(primary_key=True, max_length=30)
    data = models.CharField(max_length=30, blank=True)


class DatePK(models.Model):
    id = models.DateField(primary_key=True)
    data = models.CharField(max_length=30, blank=True)


class DateTimePK(models.Model):
    id = models.DateTimeField(primary_key=True)
    data = models.CharField(max_length=30, blank=True)


class DecimalPK(models.Model):
    id = models.DecimalField(primary_key=True, max_digits=10, decimal_places=3)
    data = models.CharField(max_length=30, blank=True)


class EmailPK(models.Model):
    id = models.EmailField(primary_key=True)
    data = models.CharField(max_length=30, blank=True)


class FloatPK(models.Model):
    id = models.FloatField(primary_key=True)
    data = models.CharField(max_length=30, blank=True)


class IntegerPK(models.Model):
    id = models.IntegerField(primary_key=True)
    data = models.CharField(max_length=30, blank=True)


class BigIntegerPK(models.Model):
    id = models.BigIntegerField(primary_key=True)
    data = models.CharField(max_length=30, blank=True)


class IPAddressPK(models.Model):
    id = models.GenericIPAddressField(primary_key=True)
    data = models.CharField(max_length=30, blank=True)


class SlugPK(models.Model):
    id = models.SlugField(primary_key=True)
    data = models.CharField(max_length=30, blank=True)


class TimePK(models.Model):
    id = models.TimeField(primary_key=True)
    data = models.CharField(max_length=30, blank=True)


class UUIDPK(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    data = models.CharField(max_length=30, blank=True)


class References(models.Model):
    """A foreign key and a many-to-many field to each awkward primary key."""

    char = models.ForeignKey(CharPK, null=True, on_delete=models.CASCADE)
    datetime = models.ForeignKey(DateTimePK, null=True, on_delete=models.CASCADE)
    decimal = models.ForeignKey(DecimalPK, null=True, on_delete=models.CASCADE)
    time = models.ForeignKey(TimePK, null=True, on_delete=models.CASCADE)
    uuid = models.ForeignKey(UUIDPK, null=True, on_delete=models.CASCADE)
    times = models.ManyToManyField(TimePK, related_name="+")
    datetimes = models.ManyToManyField(DateTimePK, related_name="+")
    decimals = models.ManyToManyField(DecimalPK, related_name="+")
    uuids = models.ManyToManyField(UUIDPK, related_name="+")


class NaturalItemManager(models.Manager):
    def get_by_natural_key(self, code, day, at):
        return self.get(code=code, day=day, at=at)


class NaturalItem(models.Model):
    """A natural key of a string, a date and a time (with microseconds)."""

    code = models.CharField(max_length=20)
    day = models.DateField()
    at = models.TimeField()
    label = models.CharField(max_length=30, blank=True)

    objects = NaturalItemManager()

    class Meta:
        unique_together = [("code", "day", "at")]

    def natural_key(self):
        return (self.code, self.day, self.at)


class NaturalReferences(models.Model):
    item = models.ForeignKey(NaturalItem, on_delete=models.CASCADE)
    items = models.ManyToManyField(NaturalItem, related_name="+")
