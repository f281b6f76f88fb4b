"""The demo's blog: authors (with personal data), blogs, posts with images, tags."""

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)
    # Personal data: scrubbed before it leaves production (see production/settings.py).
    email = models.EmailField(unique=True)
    phone = models.CharField(max_length=30, blank=True)

    def __str__(self):
        return self.name


class Blog(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(unique=True)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="blogs")

    def __str__(self):
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    def __str__(self):
        return self.name


class Post(models.Model):
    blog = models.ForeignKey(Blog, on_delete=models.CASCADE, related_name="posts")
    title = models.CharField(max_length=200)
    body = models.TextField()
    published = models.DateTimeField()
    hero_image = models.ImageField(upload_to="posts", blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="posts")

    def __str__(self):
        return self.title
