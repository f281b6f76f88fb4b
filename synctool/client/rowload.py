"""Build model instances from fixture objects, quickly where it is safe.

Django's python ``Deserializer`` looks every field up, converts it and
builds the instance with keyword arguments, once per object. For an object
that carries exactly the concrete fields of a plain model, with plain (not
natural) keys, :class:`RowBuilder` does the same conversions
(``to_python``) from a field list prepared once, and builds the instance
positionally. Anything else (natural keys, missing or unknown fields,
multi-table inheritance) goes through Django's ``Deserializer``, so errors
and semantics stay Django's.
"""

import inspect

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.serializers import base, python
from django.db import models
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

from synctool.client.fieldfill import missing_value
from synctool.exceptions import LoadError
from synctool.meta import auto_many_to_many, traits

PLAIN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute)


class _NoNativeType:
    """No value has this type: every value goes through to_python()."""


def native_type(field: models.Field) -> type:
    """The JSON-decoded type ``field.to_python()`` passes through unchanged."""
    return traits(field).json_type or _NoNativeType


def instance_factory(model: type[models.Model]):
    """A function building an instance of ``model`` from its concrete field values.

    ``Model.__init__`` costs more than the rest of building an object; when no
    ``pre_init``/``post_init`` receiver listens to the model and every field is
    a plain attribute, the same instance is made directly (as ``__init__``
    would leave it). Otherwise the model's own ``__init__`` is used.
    """
    attnames = [field.attname for field in model._meta.concrete_fields]
    plain = (
        not pre_init.has_listeners(model)
        and not post_init.has_listeners(model)
        and all(
            type(inspect.getattr_static(model, attname, None)) in PLAIN_DESCRIPTORS
            for attname in attnames
        )
    )
    if not plain:
        return model
    new = object.__new__

    def build(*values):
        instance = new(model)
        instance._state = ModelState()
        instance.__dict__.update(zip(attnames, values, strict=True))
        return instance

    return build


class RowBuilder:
    """Builds ``DeserializedObject``s of one plain model.

    ``missing``: names of fields the server does not send (an older schema);
    a row gets the value a new object would
    (:func:`synctool.client.fieldfill.missing_value`), and the writer leaves
    them alone on update.
    """

    def __init__(self, model: type[models.Model], missing: frozenset[str] = frozenset()):
        opts = model._meta
        self.model = model
        self.new_instance = instance_factory(model)
        self.label = str(opts)
        # (field name or None for the pk, converter, is_relation, native type)
        self.columns = []
        expected = set()
        for field in opts.concrete_fields:
            if field.primary_key:
                self.pk_index = len(self.columns)
                self.columns.append((None, field.to_python, False, native_type(field)))
                continue
            converter = field.target_field.to_python if field.is_relation else field.to_python
            self.columns.append((field.name, converter, field.is_relation, native_type(field)))
            expected.add(field.name)
        self.many_to_many = []
        for field in auto_many_to_many(model):
            self.many_to_many.append((field.name, field.remote_field.model._meta.pk.to_python))
            expected.add(field.name)
        self.defaults = [
            (field.name, missing_value(field) or field.get_default)
            for field in opts.concrete_fields
            if field.name in missing and not field.primary_key
        ]
        self.many_to_many = [(name, c) for name, c in self.many_to_many if name not in missing]
        self.expected = frozenset(expected) - frozenset(missing)

    @classmethod
    def for_model(
        cls, model: type[models.Model], missing: frozenset[str] = frozenset()
    ) -> "RowBuilder | None":
        if model._meta.parents or model._meta.proxy:
            return None
        return cls(model, frozenset(missing))

    def row(self, obj: dict) -> list | None:
        """The converted values of ``obj``'s concrete fields, in the model's order.

        None when the object is not plain (no pk, other fields, a natural
        key): :meth:`build` or Django's Deserializer must handle it.
        Many-to-many values are not part of a row.
        """
        fields = obj["fields"]
        if "pk" not in obj or fields.keys() != self.expected:
            return None
        if self.defaults:
            fields = {**fields, **{name: default() for name, default in self.defaults}}
        values = []
        value = obj["pk"]
        name = None
        try:
            for name, convert, is_relation, native in self.columns:
                value = obj["pk"] if name is None else fields[name]
                if type(value) is native:  # to_python() would return it unchanged
                    values.append(value)
                elif name is None:
                    values.append(convert(value))
                elif is_relation:
                    if isinstance(value, list):  # a natural key
                        return None
                    values.append(None if value is None else convert(value))
                else:
                    values.append(convert(value))
        except Exception as exc:
            raise LoadError(_bad_value(obj, name or "pk", value, exc)) from exc
        return values

    def build(self, obj: dict) -> base.DeserializedObject | None:
        """The built object, or None when Django's Deserializer must handle ``obj``."""
        values = self.row(obj)
        if values is None:
            return None
        m2m_data = {}
        value = name = None
        try:
            for name, convert in self.many_to_many:
                value = obj["fields"][name]
                if any(isinstance(item, list) for item in value):
                    return None
                m2m_data[name] = [convert(item) for item in value]
        except Exception as exc:
            raise LoadError(_bad_value(obj, name, value, exc)) from exc
        return base.DeserializedObject(self.new_instance(*values), m2m_data, {})


def _describe(obj: dict) -> str:
    from synctool.client.identity import describe

    return f"{obj.get('model')} {describe(obj)}"


def _bad_value(obj: dict, name: str, value, exc: Exception) -> str:
    shown = repr(value)
    shown = shown if len(shown) <= 120 else shown[:117] + "..."
    reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    return f"{_describe(obj)}: field {name!r}: {shown} does not fit: {reason}"


def diagnose(obj: dict, exc: Exception) -> str:
    """Why Django's deserializer could not build ``obj``, naming the field if one is to blame.

    Django's message names the model and the value, not the field: each
    value is converted again, field by field, to find the one that fails.
    """
    try:
        model = apps.get_model(obj["model"])
    except (LookupError, ValueError, KeyError):
        return f"{_describe(obj)}: the object could not be built: {exc}"
    cause = getattr(exc, "__cause__", None) or exc
    for name, value in (obj.get("fields") or {}).items():
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return f"{_describe(obj)}: field {name!r}: {model._meta.label} has no such field"
        convert = field.target_field.to_python if field.is_relation else field.to_python
        try:
            if field.many_to_many:
                for item in value or ():
                    if not isinstance(item, list):
                        convert(item)
            elif not (field.is_relation and isinstance(value, list)) and value is not None:
                convert(value)
        except Exception as error:
            return _bad_value(obj, name, value, error)
    return f"{_describe(obj)}: the object could not be built ({type(cause).__name__}): {cause}"


def deserialize_one(obj: dict, using: str) -> base.DeserializedObject:
    """Django's own path for one object (natural keys, forward references...)."""
    return next(iter(python.Deserializer([obj], using=using, handle_forward_references=True)))
