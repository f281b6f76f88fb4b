"""References kept outside foreign keys: Wagtail's reference index.

A Wagtail ``StreamField`` chooser, a rich text link or an inline panel's
image names a row by its id inside a value (JSON, HTML), where no foreign
key points at it. Wagtail records every reference of a saved object in its
reference index (``wagtailcore.ReferenceIndex``): the object by the content
type of its base model (``Page`` for every page type) and its key as text,
the row it refers to the same way. Wagtail's own usage views and deletion
warnings rely on it. A subset reads it, in the database, to bring the rows
its objects' values name (see :mod:`synctool.server.subsets`).
"""

from __future__ import annotations

from django.apps import apps
from django.db import connections, models
from django.db.models.functions import Cast

from synctool.meta import content_types_of, key_field


def reference_index() -> type[models.Model] | None:
    """Wagtail's ``ReferenceIndex`` model where Wagtail is installed, else None."""
    if not apps.is_installed("wagtail"):
        return None
    try:
        from wagtail.models import ReferenceIndex
    except ImportError:  # a Wagtail before 4.1: no reference index
        return None
    return ReferenceIndex


def _base(model: type[models.Model]) -> type[models.Model]:
    """The model whose content type the index names ``model``'s rows by: the
    base of its multi-table chain (``Page`` for a blog page)."""
    parents = model._meta.concrete_model._meta.get_parent_list()
    return parents[-1] if parents else model._meta.concrete_model


def indexed_bases() -> set[type[models.Model]]:
    """The concrete base models whose rows (or whose subtypes' rows) may
    have references in the index: Wagtail registers page types, snippets,
    images and documents that have any."""
    index = reference_index()
    if index is None:
        return set()
    return {_base(model) for model in index.indexed_models}


def is_indexed(model: type[models.Model]) -> bool:
    """Whether a subset reads the index for the rows of ``model``: only for a
    base model, whose rows the index names (a blog page's references are
    read with its page row)."""
    return model in indexed_bases()


def index_rows(objects: models.QuerySet, db: str) -> models.QuerySet:
    """The index rows of the references of ``objects`` (rows of a base
    model): by its content type (or a proxy's, as a snippet registered as a
    proxy is named) and the objects' keys as the index writes them."""
    index = reference_index()
    model = objects.model
    kinds = [model] + [m for m in apps.get_models() if m._meta.proxy and _base(m) is model]
    content_types = content_types_of(kinds, db)
    rows = index._base_manager.db_manager(db).filter(
        base_content_type__in=content_types.values("pk")
    )
    return rows.filter(object_id__in=_keys_as_written(objects, db)).order_by()


def _keys_as_written(objects: models.QuerySet, db: str):
    """The keys of ``objects`` as the index holds them (``str(pk)``), as a
    subquery: the key cast to text, so that the index's own
    ``(base_content_type, object_id)`` index finds them. A UUID stored as
    32 hex digits (no native type) is written with its hyphens."""
    key = key_field(objects.model)
    keys = objects.order_by()
    if isinstance(key, models.CharField | models.TextField):
        return keys.values("pk")
    if isinstance(key, models.UUIDField) and not connections[db].features.has_native_uuid_field:
        from django.db.models.functions import Concat, Lower, Substr

        text = Lower(Cast("pk", output_field=models.CharField()))
        parts = [Substr(text, start, length) for start, length in UUID_GROUPS]
        pieces = [parts[0]]
        for part in parts[1:]:
            pieces += [models.Value("-"), part]
        dashed = Concat(*pieces, output_field=models.CharField())
        return keys.annotate(synctool_written=dashed).values("synctool_written")
    written = Cast("pk", output_field=models.CharField(max_length=255))
    return keys.annotate(synctool_written=written).values("synctool_written")


# The hyphenated groups of a UUID's 32 hex digits: (start, length), from 1.
UUID_GROUPS = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
