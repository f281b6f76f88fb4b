"""A django-mptt tree (nested sets: tree_id, lft, rght beside the parent)."""

from django.db import models
from mptt.models import MPTTModel, TreeForeignKey


class Topic(MPTTModel):
    slug = models.SlugField(unique=True)
    parent = TreeForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )

    def __str__(self):
        return self.slug
