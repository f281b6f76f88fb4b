from django.conf import settings
from django.db import models
from treebeard.mp_tree import MP_Node


class Collection(MP_Node):
    """A tree of collections, as a CMS files documents in."""

    name = models.CharField(max_length=100)

    node_order_by = ["name"]


class Document(models.Model):
    title = models.CharField(max_length=100)
    file = models.FileField(upload_to="documents")
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
