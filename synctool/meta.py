"""Model facts both sides use, in one place.

- labels, the fields a fixture object carries, the auto-created
  many-to-many fields, the columns a write covers;
- :data:`FIELD_TRAITS`: what synctool may skip for each built-in field
  class, on the wire and in the database (the one table of such facts);
- :func:`sort_models`: models in load order (dependencies first).
"""

from __future__ import annotations

import functools
import operator
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.db import models
from django.db.models import Q


def model_label(model: type[models.Model]) -> str:
    """The label used in fixtures: ``app_label.modelname`` in lower case."""
    return str(model._meta)


def auto_many_to_many(model: type[models.Model]) -> list[models.ManyToManyField]:
    """The model's own many-to-many fields whose through table Django creates.

    Their values travel in the object (a list of keys); an explicit through
    model travels as rows of its own.
    """
    return [
        field
        for field in model._meta.local_many_to_many
        if field.serialize and field.remote_field.through._meta.auto_created
    ]


def auto_through_models(model: type[models.Model]) -> list[tuple[models.Field, type]]:
    """``(field, through model)`` of every auto-created many-to-many table of ``model``.

    Unlike :func:`auto_many_to_many`, fields that are not serialized count
    too: their rows are cleaned and checked with the model's.
    """
    return [
        (field, field.remote_field.through)
        for field in model._meta.local_many_to_many
        if field.remote_field.through._meta.auto_created
    ]


def serialized_fields(model: type[models.Model]) -> dict[str, models.Field]:
    """The fields Django's serializer writes in ``obj["fields"]``, by name.

    The model's own concrete fields but its primary key (a multi-table
    child's parent fields travel in the parent's objects), and its
    many-to-many fields with an automatic through table.
    """
    opts = model._meta.concrete_model._meta
    fields = {f.name: f for f in opts.local_fields if f.serialize and not f.primary_key}
    fields.update((f.name, f) for f in auto_many_to_many(opts.concrete_model))
    return fields


def describe_fields(model: type[models.Model]) -> list[dict]:
    """The fields of ``model`` as sent, each as :func:`describe_field` says."""
    return [describe_field(name, field) for name, field in serialized_fields(model).items()]


def describe_field(name: str, field: models.Field) -> dict:
    """What the schema gate compares of a field: its name, kind (Django's
    internal type) and nullability; the model a relation points at; a
    decimal's digits."""
    described = {"name": name, "kind": field.get_internal_type(), "null": bool(field.null)}
    if field.is_relation and field.related_model is not None:
        described["to"] = field.related_model._meta.label_lower
    if isinstance(field, models.DecimalField):
        described["max_digits"] = field.max_digits
        described["decimal_places"] = field.decimal_places
    return described


def written_columns(model: type[models.Model]) -> list[models.Field]:
    """The columns a batch write covers, in this order (generated fields excluded)."""
    return [field for field in model._meta.local_concrete_fields if not field.generated]


# -- field traits --------------------------------------------------------------


@dataclass(frozen=True)
class Traits:
    """What holds for every value of one built-in field class (its exact class).

    ``wire_as_is``: the value ``values_list()`` gives is what Django's
    serializer sends. ``json_type``: JSON decoding gives this type, which
    ``to_python()`` returns unchanged (the call can be skipped).
    ``driver_ready``: a ``to_python()`` value is what ``get_db_prep_save()``
    returns (the drivers take it as it is). ``pg_binary``: PostgreSQL column
    types a binary COPY may write it into.
    """

    wire_as_is: bool = False
    json_type: type | None = None
    driver_ready: bool = False
    pg_binary: tuple[str, ...] = ()


_INTEGER = {"wire_as_is": True, "json_type": int, "driver_ready": True}
_STRING = {"wire_as_is": True, "json_type": str}

FIELD_TRAITS: dict[type[models.Field], Traits] = {
    models.AutoField: Traits(**_INTEGER, pg_binary=("int4",)),
    models.BigAutoField: Traits(**_INTEGER, pg_binary=("int8",)),
    models.SmallAutoField: Traits(**_INTEGER, pg_binary=("int2",)),
    models.IntegerField: Traits(**_INTEGER, pg_binary=("int4",)),
    models.BigIntegerField: Traits(**_INTEGER, pg_binary=("int8",)),
    models.SmallIntegerField: Traits(**_INTEGER, pg_binary=("int2",)),
    models.PositiveIntegerField: Traits(**_INTEGER, pg_binary=("int4",)),
    models.PositiveBigIntegerField: Traits(**_INTEGER, pg_binary=("int8",)),
    models.PositiveSmallIntegerField: Traits(**_INTEGER, pg_binary=("int2",)),
    models.BooleanField: Traits(True, bool, True, ("bool",)),
    # Not as is on the wire: JSON has no NaN or infinity (see server/rowexport.py).
    models.FloatField: Traits(False, float, True, ("float8",)),
    models.DecimalField: Traits(wire_as_is=True),
    models.CharField: Traits(**_STRING, driver_ready=True, pg_binary=("varchar", "text")),
    models.TextField: Traits(**_STRING, driver_ready=True, pg_binary=("text", "varchar")),
    models.SlugField: Traits(**_STRING, driver_ready=True, pg_binary=("varchar",)),
    models.EmailField: Traits(**_STRING, driver_ready=True, pg_binary=("varchar",)),
    models.URLField: Traits(**_STRING, pg_binary=("varchar",)),
    models.DateField: Traits(wire_as_is=True, pg_binary=("date",)),
    # Binary COPY of datetimes only for aware values: see backends/pgcopy.py.
    models.DateTimeField: Traits(wire_as_is=True),
    models.TimeField: Traits(wire_as_is=True),
    models.GenericIPAddressField: Traits(wire_as_is=True),
    models.FilePathField: Traits(wire_as_is=True),
    models.JSONField: Traits(wire_as_is=True),
    models.FileField: Traits(pg_binary=("varchar",)),
    models.ImageField: Traits(pg_binary=("varchar",)),
    models.UUIDField: Traits(pg_binary=("uuid",)),
}
NO_TRAITS = Traits()


def traits(field: models.Field) -> Traits:
    """The :class:`Traits` of ``field`` (of its target for a relation); none for others."""
    while field.is_relation:
        field = field.target_field
    return FIELD_TRAITS.get(type(field), NO_TRAITS)


# -- load order ----------------------------------------------------------------


def model_dependencies(model: type[models.Model]) -> set[type[models.Model]]:
    """The models ``model`` points to (other than itself).

    Foreign keys, one-to-one links (multi-table inheritance parents
    included) and auto-created many-to-many targets.
    """
    deps = set()
    opts = model._meta
    for field in (*opts.fields, *opts.many_to_many):
        remote = field.remote_field
        if remote is None or remote.model is None or isinstance(remote.model, str):
            continue
        if field.many_to_many and not remote.through._meta.auto_created:
            continue  # an explicit through model carries its own foreign keys
        target = remote.model._meta.concrete_model
        if target is not opts.concrete_model:
            deps.add(target)
    return deps


def _points_anywhere(model: type[models.Model]) -> bool:
    from synctool.identity import generic_foreign_keys

    return bool(generic_foreign_keys(model._meta.concrete_model))


def sort_models(model_list: Iterable[type[models.Model]]) -> list[type[models.Model]]:
    """The models in load order (dependencies first), stable and deterministic.

    Self references are ignored (constraint checks are deferred or disabled
    during the load); a cycle is broken at the model that came first in the
    input; a model with a GenericForeignKey (which may point at any model)
    comes as late as its own dependencies allow.
    """
    ordered_input = list(dict.fromkeys(model_list))
    present = set(ordered_input)
    pending = {
        model: {dep for dep in model_dependencies(model) if dep in present and dep is not model}
        for model in ordered_input
    }
    result: list[type[models.Model]] = []
    while pending:
        ready = [model for model in ordered_input if model in pending and not pending[model]]
        ready = [model for model in ready if not _points_anywhere(model)] or ready
        if not ready:
            ready = [next(model for model in ordered_input if model in pending)]
        for model in ready:
            del pending[model]
            result.append(model)
            for deps in pending.values():
                deps.discard(model)
    return result


def subtypes(model: type[models.Model]) -> list[tuple[type[models.Model], models.Field]]:
    """``(child model, its parent link)`` of every installed multi-table child
    of ``model`` (a ``Book(Product)``; django-polymorphic's and Wagtail's page
    types are such children): a row of ``model`` may have its subtype's
    fields in one of their tables."""
    return [
        (child, child._meta.parents[model])
        for child in apps.get_models()
        if not child._meta.proxy and child._meta.parents.get(model) is not None
    ]


def key_list(model: type[models.Model]):
    """An empty list for keys of ``model``: packed as 8-byte integers where
    the key is an integer."""
    return array("q") if isinstance(key_field(model), models.IntegerField) else []


def content_types_of(kinds: Iterable[type[models.Model]], db: str):
    """The ``ContentType`` rows of the models ``kinds`` on ``db``, as a queryset."""
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.db_manager(db).filter(
        functools.reduce(
            operator.or_,
            (Q(app_label=m._meta.app_label, model=m._meta.model_name) for m in kinds),
        )
    )


def key_field(model: type[models.Model]) -> models.Field:
    """The field whose column type ``model``'s primary key has (a multi-table
    child's key is its parent link: the parent's key)."""
    field = model._meta.pk
    while field.is_relation:
        field = field.target_field
    return field
