"""Server side of identity: objects serialized by primary key, sent by natural key.

Routes are serialized by primary key (the fast path, Django's serializer
otherwise); :class:`KeyEncoder` then rewrites, a chunk of one model at a
time, what the identity rule (:mod:`synctool.identity`) says must travel by
natural key:

- references to key-identified models (foreign keys, one-to-ones,
  many-to-many lists) become their natural keys, fetched with one query per
  chunk and target model (and cached);
- the object id of a GenericForeignKey whose content type is a
  key-identified model becomes that object's natural key;
- a key-identified object loses its ``"pk"``, as with ``dumpdata
  --natural-primary``;
- the objects inside a value that holds a fixture (django-reversion's
  versions, :mod:`synctool.embedded`) get the same, except that a reference
  to a deleted row points nowhere (null, or an empty object id as the rows
  get): it is history, not a constraint.

The result is still a fixture ``loaddata`` reads (object ids of generic
foreign keys aside, which Django cannot express).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from itertools import groupby, islice
from operator import itemgetter

from django.apps import apps
from django.db import models

from synctool import embedded, identity
from synctool.exceptions import DanglingReference
from synctool.server.rowexport import NotPlain, converter_for

logger = logging.getLogger("synctool")


def wire_converter(field: models.Field) -> Callable:
    """How a value of ``field`` read with ``values_list`` is written on the wire."""
    try:
        convert = converter_for(field)
    except NotPlain:
        return field.to_python
    return convert or (lambda value: value)


_KEEPS_DANGLING = object()  # no value says "nowhere": a dangling reference is an error


def dangling_value(field: models.Field):
    """What an object id of a generic relation that points at a deleted row of
    a key-identified model travels as: null, or an empty id where the field
    takes text; :data:`_KEEPS_DANGLING` where neither fits.

    Generic relations are not constraints: Wagtail, django-comments and
    django-taggit keep the id of a user long deleted (Wagtail logs the
    deletion itself so). Production's id would name another user on the
    laptop, and a missing user has no natural key to send: the laptop's row
    points at no row, as production's does.
    """
    if field.null:
        return None
    if isinstance(field, models.CharField | models.TextField):
        return ""
    return _KEEPS_DANGLING


def nowhere_in_history(field: models.Field):
    """What an object id of a generic relation inside a version becomes when
    its row is gone (or, on the client, not there): as in rows, but never an
    error, since a version is history, not a constraint."""
    value = dangling_value(field)
    return None if value is _KEEPS_DANGLING else value


class _Plan:
    """What to rewrite in the objects of one model."""

    def __init__(self, model: type[models.Model], key_identified: frozenset[str]):
        opts = model._meta.concrete_model._meta
        self.model = model
        self.drop_pk = identity.model_label(model) in key_identified
        self.references = [
            (field.name, field.related_model, field.many_to_many)
            for field in [*opts.local_fields, *opts.local_many_to_many]
            if identity.references_by_key(field, key_identified)
        ]
        # References the model lets dangle (see dangling_value): their names.
        self.may_dangle = {
            field.name
            for field in opts.local_fields
            if field.is_relation and not field.db_constraint and field.null
        }
        # (content type field, object id field, what a deleted target's id becomes)
        self.generic = [
            (ct_field.name, fk_field.name, dangling_value(fk_field))
            for ct_field, fk_field in identity.generic_foreign_keys(opts.concrete_model)
        ]
        self.fixtures = embedded.fixture_fields(identity.model_label(model))

    @property
    def needed(self) -> bool:
        return bool(self.drop_pk or self.references or self.generic or self.fixtures)


class KeyEncoder:
    """Rewrites a stream of fixture objects to the project's identity rule."""

    def __init__(self, using: str, key_identified: frozenset[str], chunk_size: int = 2000):
        self.using = using
        self.key_identified = key_identified
        self.chunk_size = max(chunk_size, 1)
        self._plans: dict[str, _Plan | None] = {}
        self._keys: dict[type[models.Model], identity.BoundedCache] = {}
        #: References to deleted key-identified rows sent as pointing nowhere.
        self.dangling = 0

    def _plan(self, label: str) -> _Plan | None:
        if label not in self._plans:
            plan = _Plan(apps.get_model(label), self.key_identified)
            self._plans[label] = plan if plan.needed else None
        return self._plans[label]

    def _inner_plan(self, label: str) -> _Plan | None:
        """The plan of a model named inside a fixture value (None: not installed)."""
        try:
            return self._plan(label.lower())
        except (LookupError, ValueError):
            return None

    def encode(self, objects: Iterable[dict]) -> Iterator[dict]:
        for label, group in groupby(objects, key=itemgetter("model")):
            plan = self._plan(label)
            if plan is None:
                yield from group
                continue
            while chunk := list(islice(group, self.chunk_size)):
                self._rewrite(plan, chunk)
                yield from chunk

    # -- one chunk --------------------------------------------------------

    def _rewrite(self, plan: _Plan, chunk: list[dict], inner: bool = False) -> None:
        """Rewrite ``chunk`` in place; ``inner``: objects inside a fixture value,
        whose references may name deleted rows (they become null) or already be
        natural keys (left as they are)."""
        if plan.fixtures:
            self._rewrite_fixtures(plan, chunk)
        # Generic foreign keys first: they need the content type's id.
        for ct_name, fk_name, nowhere in plan.generic:
            if inner and nowhere is _KEEPS_DANGLING:
                nowhere = None  # see nowhere_in_history
            self._rewrite_generic(plan, chunk, ct_name, fk_name, nowhere)
        for name, target, many in plan.references:
            if inner:
                self._rewrite_inner_references(chunk, name, target, many)
                continue
            values = set()
            for obj in chunk:
                value = obj["fields"].get(name)
                if many:
                    values.update(value or ())
                elif value is not None:
                    values.add(value)
            keys = self.natural_keys(target, values)
            for obj in chunk:
                fields = obj["fields"]
                value = fields.get(name)
                if value is None:
                    continue
                try:
                    fields[name] = [keys[v] for v in value] if many else keys[value]
                except KeyError as exc:
                    if not many and name in plan.may_dangle:
                        # db_constraint=False, null=True: the model lets it point at a
                        # row deleted since (Wagtail's log entries and their users).
                        fields[name] = None
                        self.dangling += 1
                        continue
                    raise DanglingReference(
                        f"{plan.model._meta.label} pk={obj.get('pk')!r}: {name} points at "
                        f"{target._meta.label} pk={exc.args[0]!r}, which does not exist"
                    ) from None
        if plan.drop_pk:
            for obj in chunk:
                obj.pop("pk", None)

    def _rewrite_fixtures(self, plan: _Plan, chunk: list[dict]) -> None:
        """The objects inside each fixture value of ``chunk``, a model at a time."""
        label = identity.model_label(plan.model)
        held, by_model = embedded.gather(label, chunk, plan.fixtures)
        for inner_label, objects in by_model.items():
            inner_plan = self._inner_plan(inner_label)
            if inner_plan is not None:
                self._rewrite(inner_plan, objects, inner=True)
        for obj, name, objects, sent in held:
            if json.loads(sent) != objects:
                obj["fields"][name] = embedded.dump(objects)

    def _rewrite_inner_references(self, objects: list[dict], name: str, target, many: bool):
        """References inside a fixture value: ids become natural keys, ids of
        deleted rows null (or leave a many-to-many list)."""

        def is_id(value) -> bool:
            return value is not None and not isinstance(value, list | dict)

        values = set()
        for obj in objects:
            value = obj["fields"].get(name)
            for item in (value if isinstance(value, list) else ()) if many else (value,):
                if is_id(item):
                    values.add(item)
        keys = self.natural_keys(target, values)
        for obj in objects:
            fields = obj["fields"]
            value = fields.get(name)
            if many and isinstance(value, list):
                named = (keys.get(v) if is_id(v) else v for v in value)
                fields[name] = [key for key in named if key is not None]
            elif not many and is_id(value):
                fields[name] = keys.get(value)

    def _rewrite_generic(
        self, plan: _Plan, chunk: list[dict], ct_name: str, fk_name: str, nowhere
    ) -> None:
        from django.contrib.contenttypes.models import ContentType

        by_target: dict[type[models.Model], list[dict]] = {}
        manager = ContentType.objects.db_manager(self.using)
        for obj in chunk:
            fields = obj["fields"]
            ct_id, object_id = fields.get(ct_name), fields.get(fk_name)
            if ct_id is None or object_id in (None, "") or isinstance(object_id, list):
                continue
            try:
                if isinstance(ct_id, list):  # a fixture value's, by natural key
                    target = manager.get_by_natural_key(*ct_id).model_class()
                else:
                    target = manager.get_for_id(ct_id).model_class()
            except (ContentType.DoesNotExist, TypeError, ValueError):
                continue  # a dangling content type: the constraint check's business
            if target is not None and identity.model_label(target) in self.key_identified:
                by_target.setdefault(target, []).append(obj)
        for target, objs in by_target.items():
            normalize = target._meta.pk.to_python
            convert = wire_converter(target._meta.pk)
            ids = {convert(normalize(obj["fields"][fk_name])) for obj in objs}
            keys = self.natural_keys(target, ids)
            for obj in objs:
                fields = obj["fields"]
                object_id = convert(normalize(fields[fk_name]))
                if object_id in keys:
                    fields[fk_name] = keys[object_id]
                elif nowhere is not _KEEPS_DANGLING:
                    fields[fk_name] = nowhere
                    self.dangling += 1
                else:
                    raise DanglingReference(
                        f"{plan.model._meta.label} pk={obj.get('pk')!r}: {fk_name} points at "
                        f"{target._meta.label} pk={object_id!r}, which does not exist (a "
                        f"deleted {target._meta.label} has no natural key to send, and "
                        f"{fk_name} takes neither null nor an empty id: delete that row on "
                        f"the server, or leave such rows out of the route's queryset)"
                    )

    # -- look-ups ---------------------------------------------------------

    def natural_keys(self, model: type[models.Model], values: set) -> dict:
        """``{primary key as on the wire: natural key (a list)}`` for ``values``."""
        cache = self._keys.setdefault(model, identity.BoundedCache())
        missing = [value for value in values if value not in cache]
        if missing:
            for value, key in self._fetch(model, missing):
                cache.remember(value, key)
        return {value: cache[value] for value in values if value in cache}

    def _fetch(self, model: type[models.Model], values: list) -> Iterator[tuple]:
        manager = model._base_manager.using(self.using)
        pk_field = model._meta.pk
        to_wire = wire_converter(pk_field)
        paths = identity.key_paths(model)
        for chunk in identity.chunks(values):
            queryset = manager.filter(pk__in=[pk_field.to_python(v) for v in chunk]).order_by()
            if paths is None:
                for obj in queryset.iterator():
                    yield to_wire(obj.pk), list(obj.natural_key())
                continue
            converters = [wire_converter(identity.path_field(model, p)) for p in paths]
            for pk, *parts in queryset.values_list("pk", *paths):
                key = [c(part) for c, part in zip(converters, parts, strict=True)]
                yield to_wire(pk), key
