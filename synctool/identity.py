"""Identity across databases: which models travel by natural key, and how.

Production's and a laptop's primary keys differ for everything created by
migrations or by people on each side: content types, permissions, the
laptop's own superuser. The rule is per model, for the whole project:

- a model is identified on the wire by primary key (the default) or by
  natural key (``natural_key()`` plus its manager's ``get_by_natural_key``);
- ``contenttypes.ContentType`` and ``auth.Permission`` always by natural key;
  ``SYNCTOOL_NATURAL_KEYS`` (and, on the server, routes with
  ``natural_keys=True``) add others;
- every reference to such a model (foreign key, one-to-one, many-to-many,
  the object id of a GenericForeignKey) travels as its natural key.

This module holds the facts both sides share: the set of key-identified
models, the *key paths* of a model (the field paths whose values, in order,
make its ``natural_key()``), and the two bulk look-ups built on them
(primary keys to natural keys on the server, natural keys to primary keys
on the client). Models whose natural key is not a plain tuple of field
values (one computed from ancestors, say) have no key paths; they are
looked up one by one through ``natural_key()`` and ``get_by_natural_key``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator

from django.apps import apps
from django.db import connections, models

from synctool.conf import settings

# Identified by natural key whatever the settings say: their ids are an
# accident of migration order.
ALWAYS_BY_NATURAL_KEY = ("contenttypes.contenttype", "auth.permission")
# Keys looked up per query: bounded so SQLite's and MySQL's parameter
# limits are never reached.
LOOKUP_CHUNK = 500
# Entries a cache of one model keeps before it is emptied (memory stays flat).
CACHE_LIMIT = 100_000


def model_label(model: type[models.Model]) -> str:
    return model._meta.concrete_model._meta.label_lower


def has_natural_key(model: type[models.Model]) -> bool:
    """Whether ``model`` can travel by natural key (both halves of Django's protocol)."""
    return hasattr(model, "natural_key") and hasattr(model._default_manager, "get_by_natural_key")


def configured_labels() -> list[str]:
    """The labels of ``SYNCTOOL_NATURAL_KEYS``, lower case (unknown ones included)."""
    value = settings.SYNCTOOL_NATURAL_KEYS or ()
    if isinstance(value, str):
        value = [value]
    return [label.lower() for label in value if isinstance(label, str)]


def _installed(labels: Iterable[str]) -> set[str]:
    result = set()
    for label in labels:
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            continue
        if has_natural_key(model):
            result.add(model_label(model))
    return result


def key_identified_labels(extra: Iterable[str] = ()) -> frozenset[str]:
    """The labels of every model identified by natural key here.

    ``extra`` adds labels (the server's routes with ``natural_keys=True``,
    the client's announced set); labels of models that are not installed or
    have no natural key are left out.
    """
    return frozenset(_installed([*ALWAYS_BY_NATURAL_KEY, *configured_labels(), *extra]))


# -- key paths ----------------------------------------------------------------

_MARK = "\x00synctool-key:"
MAX_DEPTH = 3


def _marker(path: str) -> str:
    return f"{_MARK}{path}\x00"


def _marked_instance(model: type[models.Model], prefix: str, depth: int, markers: dict):
    """An unsaved ``model`` whose every plain field holds a marker naming its path."""
    values = {}
    related = []
    for field in model._meta.concrete_fields:
        if isinstance(field, models.FileField):
            continue  # building a file from a marker would touch the storage
        if field.is_relation:
            marker = _marker(prefix + field.attname)
            markers[marker] = prefix + field.attname
            values[field.attname] = marker
            if depth < MAX_DEPTH and not field.primary_key:
                related.append(field)
            continue
        marker = _marker(prefix + field.name)
        markers[marker] = prefix + field.name
        values[field.attname] = marker
    instance = model(**values)
    for field in related:
        target = _marked_instance(
            field.related_model, f"{prefix}{field.name}__", depth + 1, markers
        )
        field.set_cached_value(instance, target)
    return instance


class _QueryRefused(Exception):
    pass


def _refuse_query(execute, sql, params, many, context):
    raise _QueryRefused(sql)


@contextlib.contextmanager
def _no_queries() -> Iterator[None]:
    """No query reaches a database: a natural_key() that would query fails instead
    (and cannot abort the transaction of a sync with a query on marker values)."""
    with contextlib.ExitStack() as stack:
        for alias in connections:
            stack.enter_context(connections[alias].execute_wrapper(_refuse_query))
        yield


@functools.cache
def key_paths(model: type[models.Model]) -> tuple[str, ...] | None:
    """The field paths whose values, in order, are ``model``'s natural key.

    Found by calling ``natural_key()`` on an unsaved instance whose fields
    (and those of the related objects it may follow) hold marker strings:
    ``auth.Permission`` gives ``("codename", "content_type__app_label",
    "content_type__model")``. None when the natural key is anything else
    (computed, transformed, read from the database).
    """
    if not has_natural_key(model):
        return None
    markers: dict[str, str] = {}
    try:
        with _no_queries():
            key = _marked_instance(model, "", 0, markers).natural_key()
    except Exception:
        return None
    if not isinstance(key, list | tuple) or not key:
        return None
    paths = []
    for component in key:
        path = markers.get(component) if isinstance(component, str) else None
        if path is None:
            return None
        paths.append(path)
    return tuple(paths)


def path_field(model: type[models.Model], path: str) -> models.Field:
    """The field at the end of ``path`` (``"content_type__app_label"``)."""
    *hops, last = path.split("__")
    for hop in hops:
        model = model._meta.get_field(hop).related_model
    for field in model._meta.concrete_fields:
        if last in (field.name, field.attname):
            return field
    return model._meta.get_field(last)


# -- references ---------------------------------------------------------------


def references_by_key(field: models.Field, key_identified: frozenset[str]) -> bool:
    """Whether the values of relation ``field`` travel as natural keys.

    Foreign keys to another column than the primary key (``to_field``)
    carry that column's value, the same on both sides, and are left alone.
    """
    if not field.is_relation or field.related_model is None:
        return False
    if isinstance(field.related_model, str):
        return False
    if model_label(field.related_model) not in key_identified:
        return False
    if field.many_to_many:
        return field.remote_field.through._meta.auto_created and field.serialize
    return field.target_field.primary_key and field.serialize


def key_columns(model: type[models.Model], key_identified) -> tuple[str, ...] | None:
    """The natural-key paths of the rows ``model``'s foreign keys refer to by
    natural key, read with its rows for their digests (an incremental sync),
    so that a renamed target changes them; None when one has no plain
    natural-key fields."""
    paths: list[str] = []
    for field in model._meta.local_concrete_fields:
        if references_by_key(field, key_identified):
            target_paths = key_paths(field.related_model)
            if target_paths is None:
                return None
            paths.extend(f"{field.name}__{path}" for path in target_paths)
    return tuple(paths)


# The undeclared convention for a generic relation: a foreign key to
# ContentType named ``<prefix>content_type`` beside a field named
# ``<prefix>object_id`` or ``<prefix>object_pk`` (Wagtail's log entries and
# its reference index's ``to_content_type`` + ``to_object_id``,
# django-comments' ``object_pk``).
CONTENT_TYPE_NAME = "content_type"
IMPLICIT_OBJECT_ID_NAMES = ("object_id", "object_pk")


def generic_foreign_keys(model: type[models.Model]) -> list[tuple[models.Field, models.Field]]:
    """``(content type field, object id field)`` of each generic relation of ``model``.

    Declared ``GenericForeignKey`` fields, and the undeclared convention
    (see :data:`IMPLICIT_OBJECT_ID_NAMES`): the id names a row of that
    content type's model even when no GenericForeignKey says so.
    """
    if not apps.is_installed("django.contrib.contenttypes"):
        return []
    from django.contrib.contenttypes.fields import GenericForeignKey
    from django.contrib.contenttypes.models import ContentType

    result = []
    opts = model._meta
    for private in opts.private_fields:
        if not isinstance(private, GenericForeignKey) or private.model is not model:
            continue
        try:
            ct_field = opts.get_field(private.ct_field)
            fk_field = opts.get_field(private.fk_field)
        except Exception:  # noqa: S112 - a broken GenericForeignKey is not ours to report
            continue
        if ct_field.serialize and fk_field.serialize and not fk_field.primary_key:
            result.append((ct_field, fk_field))
    paired = {fk_field for _, fk_field in result}
    names = {field.name: field for field in opts.local_fields}
    for ct_field in opts.local_fields:
        if not (
            ct_field.name.endswith(CONTENT_TYPE_NAME)
            and ct_field.is_relation
            and ct_field.related_model is ContentType
        ):
            continue
        prefix = ct_field.name.removesuffix(CONTENT_TYPE_NAME)
        for name in IMPLICIT_OBJECT_ID_NAMES:
            fk_field = names.get(prefix + name)
            if fk_field is not None and fk_field not in paired and not fk_field.is_relation:
                result.append((ct_field, fk_field))
                break
    return result


class BoundedCache(dict):
    """A dict emptied when it grows past ``CACHE_LIMIT`` entries."""

    def remember(self, key, value) -> None:
        if len(self) >= CACHE_LIMIT:
            self.clear()
        self[key] = value


def chunks(items: list, size: int = LOOKUP_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]
