"""What the scrubber needs to know about a model field.

Only the fields Django's serializer writes for a model are scrubbable:
its own concrete fields (not the primary key, not the parent's fields of a
multi-table child, which travel in the parent's objects) and its
many-to-many fields with an automatic through table.
"""

from dataclasses import dataclass, field

from django.db import models
from django.db.models.expressions import F

from synctool.meta import serialized_fields

__all__ = ["FieldInfo", "field_info", "inherited_from", "serialized_fields", "unique_field_names"]


@dataclass(frozen=True)
class FieldInfo:
    """A field as the strategies see it."""

    label: str  # "app_label.modelname"
    name: str
    kind: str  # "text", "ip", "date", "datetime", "relation", "m2m" or "other"
    unique: bool = False
    null: bool = False
    max_length: int | None = None
    protocol: str = "both"  # GenericIPAddressField.protocol
    field: models.Field | None = field(default=None, compare=False, repr=False)

    @property
    def path(self) -> str:
        return f"{self.label}.{self.name}"


def field_kind(field: models.Field) -> str:
    if field.many_to_many:
        return "m2m"
    if field.is_relation:
        return "relation"
    if isinstance(field, models.GenericIPAddressField):
        return "ip"
    if isinstance(field, models.DateTimeField):
        return "datetime"
    if isinstance(field, models.DateField):
        return "date"
    if isinstance(field, models.CharField | models.TextField):
        return "text"
    return "other"


def _expression_names(expression) -> set[str]:
    names = set()
    for node in expression.flatten():
        if isinstance(node, F):
            names.add(node.name.split("__")[0])
    return names


def unique_field_names(model: type[models.Model]) -> set[str]:
    """Fields whose values must stay distinct: ``unique=True``, in
    ``unique_together`` or in a ``UniqueConstraint`` (fields or expressions)."""
    opts = model._meta
    names = {f.name for f in opts.local_fields if f.unique}
    for group in opts.unique_together:
        names.update(group)
    for constraint in opts.constraints:
        if isinstance(constraint, models.UniqueConstraint):
            names.update(constraint.fields)
            for expression in constraint.expressions:
                names.update(_expression_names(expression))
    return names


def field_info(model: type[models.Model], field_: models.Field, label: str = "") -> FieldInfo:
    unique = field_.name in unique_field_names(model._meta.concrete_model)
    protocol = getattr(field_, "protocol", "both")
    return FieldInfo(
        label=label or model._meta.label_lower,
        name=field_.name,
        kind=field_kind(field_),
        unique=unique,
        null=field_.null,
        max_length=getattr(field_, "max_length", None),
        protocol=protocol.lower() if isinstance(protocol, str) else "both",
        field=field_,
    )


def inherited_from(model: type[models.Model], name: str) -> type[models.Model] | None:
    """The parent model that really carries ``name`` (multi-table inheritance)."""
    opts = model._meta.concrete_model._meta
    try:
        field_ = opts.get_field(name)
    except Exception:
        return None
    owner = getattr(field_, "model", None)
    if owner is not None and owner._meta.concrete_model is not opts.concrete_model:
        return owner
    return None
