"""A fast serializer for plain models, equal in output to Django's.

Django's python serializer builds a model instance per row and asks every
field for its value; for a plain model that is most of the server's time.
Here rows are read with ``values_list()`` and each value goes through a
converter chosen once per field that reproduces exactly what
``Serializer._value_from_field`` would produce (protected types as they
are, everything else as ``value_to_string`` would give it). The one
deliberate difference: a non-finite float (NaN, infinity) is sent as the
string ``FloatField.to_python()`` reads back, where Django's serializer
would send a value JSON cannot hold. Models this
module cannot reproduce exactly (custom fields overriding
``value_to_string``, custom descriptors) keep Django's path.
"""

import math
from base64 import b64encode
from collections.abc import Callable, Iterator
from itertools import islice
from operator import itemgetter

from django.db import connections, models
from django.db.models.query_utils import DeferredAttribute
from django.utils.duration import duration_string
from django.utils.encoding import is_protected_type

from synctool.backends import backend_for
from synctool.meta import auto_many_to_many, traits

Converter = Callable[[object], object] | None


class NotPlain(Exception):
    """The model has a field this module cannot serialize exactly like Django."""


def _as_string(value):
    return value if is_protected_type(value) else str(value)


def _float(value):
    # JSON has no NaN or Infinity (orjson would write null): send them as the
    # strings FloatField.to_python() reads back ("nan", "inf", "-inf").
    return value if value is None or math.isfinite(value) else str(value)


def _duration(value):
    return None if value is None else duration_string(value)


def _binary(value):
    return None if value is None else b64encode(value).decode("ascii")


def _file_name(value):
    # Django sends str(FieldFile), which is "" for an empty or NULL file.
    return value or ""


def converter_for(field: models.Field) -> Converter:
    """The function turning a ``values_list`` value of ``field`` into the wire value."""
    if field.is_relation:
        return converter_for(field.target_field)
    field_class = type(field)
    if traits(field).wire_as_is:
        return None
    if field_class is models.FloatField:
        return _float
    if isinstance(field, models.FileField):
        return _file_name
    if isinstance(field, models.UUIDField) and field_class.value_to_string is (
        models.Field.value_to_string
    ):
        return _as_string
    if field_class.value_to_string is models.DurationField.value_to_string:
        return _duration
    if field_class.value_to_string is models.BinaryField.value_to_string:
        return _binary
    if field_class.value_to_string is models.Field.value_to_string and (
        field.descriptor_class is DeferredAttribute
    ):
        return _as_string
    raise NotPlain(f"{field.model._meta.label}.{field.name} ({field_class.__name__})")


class RowSerializer:
    """Serializes the rows of one model from ``values_list`` tuples."""

    def __init__(self, model: type[models.Model]):
        opts = model._meta.concrete_model._meta
        self.label = str(model._meta)
        self.pk = opts.pk
        self.pk_converter = converter_for(opts.pk)
        fields = [field for field in opts.local_fields if field.serialize]
        self.names = [field.name for field in fields]
        self.attnames = [opts.pk.attname] + [field.attname for field in fields]
        self.converters = [converter_for(field) for field in fields]
        self.plain = all(converter is None for converter in self.converters)
        self.many_to_many = [
            (field, converter_for(field.remote_field.model._meta.pk))
            for field in auto_many_to_many(opts.concrete_model)
        ]

    def _m2m_values(self, field, converter, pks, using) -> dict:
        through = field.remote_field.through
        source = through._meta.get_field(field.m2m_field_name()).attname
        target = through._meta.get_field(field.m2m_reverse_field_name()).attname
        values: dict = {}
        rows = (
            through._base_manager.using(using)
            .filter(**{f"{source}__in": pks})
            .order_by(through._meta.pk.attname)
            .values_list(source, target)
        )
        for source_pk, target_pk in rows:
            values.setdefault(source_pk, []).append(
                target_pk if converter is None else converter(target_pk)
            )
        return values

    def serialize(self, queryset: models.QuerySet, chunk_size: int) -> Iterator[dict]:
        """Yield the fixture objects of ``queryset``, reading ``chunk_size`` rows at a time."""
        rows = backend_for(connections[queryset.db]).iterate(
            queryset.values_list(*self.attnames), chunk_size, key_of=itemgetter(0)
        )
        label, names, converters = self.label, self.names, self.converters
        pk_converter, plain = self.pk_converter, self.plain
        while chunk := list(islice(rows, chunk_size)):
            m2m = [
                (field.name, self._m2m_values(field, converter, [r[0] for r in chunk], queryset.db))
                for field, converter in self.many_to_many
            ]
            for row in chunk:
                pk = row[0]
                if plain:
                    fields = dict(zip(names, row[1:], strict=True))
                else:
                    fields = {
                        name: value if convert is None else convert(value)
                        for name, value, convert in zip(names, row[1:], converters, strict=True)
                    }
                for name, values in m2m:
                    fields[name] = values.get(pk, [])
                yield {
                    "model": label,
                    "pk": pk if pk_converter is None else pk_converter(pk),
                    "fields": fields,
                }


def row_serializer(model: type[models.Model]) -> RowSerializer | None:
    """A RowSerializer for ``model``, or None when Django's serializer must be used."""
    try:
        return RowSerializer(model)
    except NotPlain:
        return None
