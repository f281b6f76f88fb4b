import uuid

from django.db import models


class AuthorManager(models.Manager):
    def get_by_natural_key(self, email):
        return self.get(email=email)


class Author(models.Model):
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=100)
    phone = models.CharField(max_length=30, blank=True)

    objects = AuthorManager()

    def natural_key(self):
        return (self.email,)


class Blog(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(unique=True)
    author = models.ForeignKey(Author, null=True, blank=True, on_delete=models.SET_NULL)


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)


class Post(models.Model):
    blog = models.ForeignKey(Blog, on_delete=models.CASCADE)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created = models.DateTimeField()
    updated = models.DateTimeField(auto_now=True)
    views = models.IntegerField(default=0)
    tags = models.ManyToManyField(Tag, blank=True)
    hero_image = models.ImageField(upload_to="posts", blank=True)


class Comment(models.Model):
    """Not carried by the "blogs" route: local-only rows for clean tests."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE)
    text = models.CharField(max_length=200)


class Node(models.Model):
    """Self reference: children may come before their parent in pk order."""

    name = models.CharField(max_length=50)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE)


class Club(models.Model):
    name = models.CharField(max_length=50)
    members = models.ManyToManyField(Author, through="Membership")


class Membership(models.Model):
    club = models.ForeignKey(Club, on_delete=models.CASCADE)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    joined = models.DateField()


class Place(models.Model):
    name = models.CharField(max_length=50)


class Restaurant(Place):
    serves_pizza = models.BooleanField(default=False)


class AllTypes(models.Model):
    char = models.CharField(max_length=100, blank=True)
    text = models.TextField(blank=True)
    integer = models.IntegerField(default=0)
    big = models.BigIntegerField(default=0)
    small = models.SmallIntegerField(default=0)
    positive = models.PositiveIntegerField(default=0)
    floating = models.FloatField(default=0.0)
    decimal = models.DecimalField(max_digits=30, decimal_places=10, default=0)
    boolean = models.BooleanField(default=False)
    nullable_bool = models.BooleanField(null=True)
    date = models.DateField(null=True)
    time = models.TimeField(null=True)
    datetime = models.DateTimeField(null=True)
    duration = models.DurationField(null=True)
    uuid = models.UUIDField(null=True)
    binary = models.BinaryField(null=True)
    json = models.JSONField(null=True)
    nullable_char = models.CharField(max_length=10, null=True)
    ip = models.GenericIPAddressField(null=True)
    created = models.DateTimeField(auto_now_add=True)


class UUIDItem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    label = models.CharField(max_length=50)
