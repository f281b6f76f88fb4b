"""The benchmark's data: Blog (1 per 100 posts) and Post (the bulk of the rows)."""

from django.db import models


class BlogManager(models.Manager):
    def get_by_natural_key(self, slug):
        return self.get(slug=slug)


class Blog(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created = models.DateTimeField()

    objects = BlogManager()

    def __str__(self):
        return self.name

    def natural_key(self):
        # Used only when run.py --natural-keys identifies blogs by natural key.
        return (self.slug,)


class Post(models.Model):
    blog = models.ForeignKey(Blog, on_delete=models.CASCADE, related_name="posts")
    title = models.CharField(max_length=200)
    body = models.TextField()
    views = models.IntegerField()
    published = models.DateTimeField()

    def __str__(self):
        return self.title


# benchmarks/subset_bench.py: chapters (the bulk) with three levels of parents.
class Publisher(models.Model):
    name = models.CharField(max_length=100)


class Writer(models.Model):
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE)
    name = models.CharField(max_length=100)


class Book(models.Model):
    writer = models.ForeignKey(Writer, on_delete=models.CASCADE)
    title = models.CharField(max_length=200)


class Chapter(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE)
    number = models.IntegerField(db_index=True)
    text = models.TextField()
