"""Model facts both sides use: labels and the fields a fixture object carries."""

from __future__ import annotations

from django.db import models


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
    """The fields of ``model`` as sent: name, kind (Django's internal type), nullability."""
    return [
        {"name": name, "kind": field.get_internal_type(), "null": bool(field.null)}
        for name, field in serialized_fields(model).items()
    ]
