from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from reversion import register
from taggit.managers import TaggableManager
from treebeard.mp_tree import MP_Node


class Page(MP_Node):
    """The page tree; each page knows its specific class by content type."""

    title = models.CharField(max_length=100)
    slug = models.SlugField()
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    live = models.BooleanField(default=True)
    view_restrictions = models.ManyToManyField(Group, blank=True, related_name="+")
    tags = TaggableManager(blank=True)

    def save(self, *args, **kwargs):
        if not self.content_type_id:
            self.content_type = ContentType.objects.db_manager(self._state.db).get_for_model(self)
        super().save(*args, **kwargs)


class BlogPage(Page):
    body = models.TextField()
    hero = models.ForeignKey(
        "documents.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published = models.DateTimeField()


class EventPage(Page):
    starts = models.DateField()
    at = models.TimeField()


class PageRevision(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="revisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField()
    content = models.JSONField()


class GroupPagePermission(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="+")
    page = models.ForeignKey(Page, on_delete=models.CASCADE)
    permission = models.ForeignKey(Permission, on_delete=models.CASCADE, related_name="+")


class Comment(models.Model):
    """A comment on anything: a page, a document, a user."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.TextField()


# Versions of comments and groups: production's ids inside their text.
# Users are registered too (no version of one is made): their personal
# fields travel inside versions, which the scrub checks must see.
register(Comment)
register(Group)
register(User)
