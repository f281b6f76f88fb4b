"""A shop whose rows point at users and, through a GenericForeignKey, at anything:
the identity tests (content type, permission and user ids differ between
the two databases)."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models


class Customer(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=100)


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reference = models.CharField(max_length=20, unique=True)
    watchers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    # Comments on an order (a route may follow them); their object id is text.
    remarks = GenericRelation("Comment")


class Comment(models.Model):
    """A comment on anything: an order, a customer, a user."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.CharField(max_length=40)
    content_object = GenericForeignKey("content_type", "object_id")
    text = models.CharField(max_length=200)


class Review(models.Model):
    """Ordered across a relation, as auth.Permission is (by its content type)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    stars = models.IntegerField(default=5)

    class Meta:
        ordering = ["customer__name"]


class TimeSlot(models.Model):
    """A time as primary key: its microseconds must survive everywhere it travels."""

    start = models.TimeField(primary_key=True)
    label = models.CharField(max_length=50)


class Booking(models.Model):
    slot = models.ForeignKey(TimeSlot, on_delete=models.CASCADE, related_name="bookings")
    alternatives = models.ManyToManyField(TimeSlot, blank=True, related_name="+")


class ShelfManager(models.Manager):
    def get_by_natural_key(self, aisle, number):
        return self.get(aisle=aisle, number=number)


class Shelf(models.Model):
    """A natural key of two fields, not declared unique in this order."""

    number = models.IntegerField()
    aisle = models.CharField(max_length=10)
    # Unique besides the natural key: a value production moves between shelves
    # clashes with a local shelf still holding it.
    label = models.CharField(max_length=20, unique=True, null=True, blank=True)

    objects = ShelfManager()

    class Meta:
        unique_together = [("number", "aisle")]

    def natural_key(self):
        return (self.aisle, self.number)


class Product(models.Model):
    shelf = models.ForeignKey(Shelf, null=True, on_delete=models.SET_NULL)
    category = models.ForeignKey("Category", null=True, on_delete=models.SET_NULL)
    name = models.CharField(max_length=50)


class Book(Product):
    """A multi-table child of Product, as django-polymorphic's types and
    Wagtail's page types are: a product that is a book has its row here too."""

    isbn = models.CharField(max_length=20)
    recommended_with = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=1)


class CategoryManager(models.Manager):
    def get_by_natural_key(self, *names):
        category = None
        for name in names:
            category = self.get(name=name, parent=category)
        return category


class Category(models.Model):
    """A tree whose natural key is the path of names from the root (read from the
    database): looked up one key at a time."""

    name = models.CharField(max_length=50)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE)

    objects = CategoryManager()

    def natural_key(self):
        names, node = [], self
        while node is not None:
            names.insert(0, node.name)
            node = node.parent
        return tuple(names)


class LogEntry(models.Model):
    """What happened to which object: a content type and an object id with no
    GenericForeignKey declared (as Wagtail's log entries)."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=255)
    label = models.CharField(max_length=100)
    # A second pair under a prefix (as Wagtail's reference index: the object
    # that refers, and to_content_type + to_object_id, the one referred to).
    to_content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, related_name="+", null=True
    )
    to_object_id = models.CharField(max_length=255, blank=True, default="")
    # Kept when the user is deleted (as Wagtail's page log entries' user).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )


class Rating(models.Model):
    """A generic relation whose object id is a number (as django-taggit's): an
    object deleted since cannot be pointed at with null or an empty id."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveIntegerField()
    content_object = GenericForeignKey("content_type", "object_id")
    stars = models.PositiveSmallIntegerField(default=5)


class SearchEntry(models.Model):
    """On SQLite an FTS5 virtual table (as Wagtail's search index), which refuses UPSERT."""

    id = models.AutoField(primary_key=True, db_column="rowid")
    title = models.TextField()
    body = models.TextField()

    class Meta:
        managed = False
        db_table = "shop_searchentry"


class Department(models.Model):
    """With Employee, a cycle: each points at the other (subsets follow both ways)."""

    name = models.CharField(max_length=50)
    head = models.ForeignKey(
        "Employee", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )


class Employee(models.Model):
    name = models.CharField(max_length=50)
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="staff")
