"""Client side of identity: natural keys in, local primary keys out, in bulk.

:class:`KeyResolver` sits between the decoded stream and the loader. For a
chunk of objects of one model at a time it:

- matches each key-identified object to the local row with the same natural
  key (its ``"pk"`` becomes that row's, or None for a row to create, whose
  natural key is kept under :data:`NATURAL_KEY`);
- replaces every natural-key reference (foreign key, many-to-many list, the
  object id of a GenericForeignKey) by the local primary key it names;
- refuses a reference to a key-identified model that arrives as a primary
  key: that id means nothing here.

The objects inside a value that holds a fixture (django-reversion's
versions, :mod:`synctool.embedded`) are resolved the same way, except that
a natural key with no row here is kept as it is, and counted
(:attr:`KeyResolver.fixture_misses`): a version is history, Django's
deserializer reads a natural key when the version is reverted (and fails
then if the row is still missing), and a natural key cannot name the wrong
row. The object id of a generic relation cannot hold one: it points nowhere,
as a row's does.

Look-ups are one query per chunk and target model (cached), never one per
object. A reference that does not resolve is an error naming the model, the
object and the field, unless its target is still to come in this sync
(a cycle): it is then left to Django's deserializer, which defers it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from itertools import groupby, islice
from operator import itemgetter

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models

from synctool import embedded, identity
from synctool.client.lookups import KeyLookups, OwnKey
from synctool.exceptions import LoadError
from synctool.server.identity import nowhere_in_history

# The top-level key under which a key-identified object that has no local
# row yet carries its natural key (Django's deserializer ignores it).
NATURAL_KEY = "synctool_natural_key"
CONTENT_TYPE = "contenttypes.contenttype"


def describe(obj: dict) -> str:
    """How an object is named in messages: its pk, or its natural key."""
    if obj.get("pk") is not None:
        return f"pk={obj['pk']!r}"
    if obj.get(NATURAL_KEY) is not None:
        return f"natural key {list(obj[NATURAL_KEY])!r}"
    return "(no primary key)"


def _by_primary_key(plan, obj: dict, name: str, target, value) -> LoadError:
    label = target._meta.label
    return LoadError(
        f"{plan.label} {describe(obj)}: {name} refers to {label} by primary key {value!r}, "
        f"but {label} is identified by natural key (its ids differ between databases): "
        "the server must send natural keys. Is synctool on the server older, or is "
        f"{label} missing from its SYNCTOOL_NATURAL_KEYS?"
    )


class _Plan:
    """What to resolve in the objects of one model."""

    def __init__(self, model: type[models.Model], key_identified: frozenset[str]):
        opts = model._meta.concrete_model._meta
        self.model = model
        self.label = opts.label
        self.key_identified = identity.model_label(model) in key_identified
        self.own = None
        if self.key_identified:
            paths = identity.key_paths(model)
            try:
                self.own = OwnKey(model, paths, key_identified) if paths else None
            except LookupError:
                self.own = None
        # (name, target, many, must travel by key)
        self.references = []
        for field in [*opts.local_fields, *opts.local_many_to_many]:
            if not field.is_relation or field.related_model is None:
                continue
            target = field.related_model
            if field.many_to_many and not field.remote_field.through._meta.auto_created:
                continue
            if not field.many_to_many and not field.target_field.primary_key:
                continue  # to_field: the value is that column's, the same on both sides
            if identity.has_natural_key(target):
                must = identity.model_label(target) in key_identified
                self.references.append((field.name, target, field.many_to_many, must))
        self.generic = [
            (ct_field.name, fk_field)
            for ct_field, fk_field in identity.generic_foreign_keys(opts.concrete_model)
        ]
        self.fixtures = embedded.fixture_fields(self.label.lower())

    @property
    def needed(self) -> bool:
        return bool(self.key_identified or self.references or self.generic or self.fixtures)


class KeyResolver:
    """Resolves the natural keys of a stream of fixture objects (see the module).

    :param using: the database synced into.
    :param key_identified: labels of the models identified by natural key.
    :param announced: labels the sync carries, in load order: a reference to
        one not loaded yet may be resolved later instead of failing.
    :param flush: called with a model before its rows are looked up, so that
        rows of it still waiting in a batch are written first.
    """

    def __init__(
        self,
        using: str,
        key_identified: frozenset[str],
        announced: Iterable[str] = (),
        flush: Callable[[type[models.Model]], None] = lambda model: None,
        chunk_size: int = 2000,
    ):
        self.using = using
        self.key_identified = key_identified
        self.upcoming = set(announced)
        self.flush = flush
        self.chunk_size = max(chunk_size, 1)
        self._plans: dict[str, _Plan | None] = {}
        self.lookups = KeyLookups(using, flush)
        self.deferred_generic: list[tuple] = []
        # "app_label.model" of the content types made here (_create_content_types).
        self.created_content_types: list[str] = []
        # Natural keys inside fixture values with no row here: {target label: count}.
        self.fixture_misses: dict[str, int] = {}
        # Fixture values naming rows still to come: (model, pk, field, text as sent).
        self.deferred_fixtures: list[tuple] = []

    def _plan(self, label: str) -> _Plan | None:
        if label not in self._plans:
            plan = _Plan(apps.get_model(label), self.key_identified)
            self._plans[label] = plan if plan.needed else None
        return self._plans[label]

    def resolve(self, objects: Iterable[dict]) -> Iterator[dict]:
        """Yield ``objects`` with their natural keys resolved."""
        for label, group in groupby(objects, key=itemgetter("model")):
            label = label.lower()
            plan = self._plan(label)
            if plan is None:
                yield from group
            else:
                # A natural key read through natural_key() (not field paths) is
                # matched by Django one object at a time, against the rows
                # before it: those must be written first.
                size = 1 if plan.key_identified and plan.own is None else self.chunk_size
                while chunk := list(islice(group, size)):
                    self._resolve_chunk(plan, chunk)
                    yield from chunk
            self.upcoming.discard(label)

    def is_key_identified(self, model: type[models.Model]) -> bool:
        return identity.model_label(model) in self.key_identified

    # -- one chunk --------------------------------------------------------

    def _resolve_chunk(self, plan: _Plan, chunk: list[dict]) -> None:
        if plan.fixtures:
            self._resolve_fixtures(plan, chunk)
        if plan.key_identified:
            self._match_own(plan, chunk)
        for ct_name, fk_field in plan.generic:
            self._resolve_generic(plan, chunk, ct_name, fk_field)
        for name, target, many, must in plan.references:
            self._resolve_field(plan, chunk, name, target, many, must)

    def _match_own(self, plan: _Plan, chunk: list[dict]) -> None:
        if plan.own is None:
            # Django's deserializer finds the row by natural_key() (one query each).
            for obj in chunk:
                obj.pop("pk", None)
            return
        keys = []
        targets = {name: target for name, target, _, must in plan.references if must}
        for obj in chunk:
            try:
                keys.append(plan.own(obj["fields"]))
            except (KeyError, TypeError, IndexError, ValidationError) as exc:
                name = exc.args[0] if isinstance(exc, KeyError) and exc.args else None
                value = obj["fields"].get(name) if isinstance(name, str) else None
                if name in targets and value is not None:
                    raise _by_primary_key(plan, obj, name, targets[name], value) from None
                raise LoadError(
                    f"{plan.label}: an object's natural key cannot be read from its fields "
                    f"({type(exc).__name__}: {exc}): {str(obj['fields'])[:200]}"
                ) from None
        found = self.lookup(plan.model, set(keys))
        for obj, key in zip(chunk, keys, strict=True):
            pk = found.get(key)
            obj["pk"] = pk
            if pk is None:
                obj[NATURAL_KEY] = key

    def _resolve_generic(self, plan: _Plan, chunk: list[dict], ct_name: str, fk_field) -> None:
        by_target: dict[type[models.Model], list[dict]] = {}
        for obj in chunk:
            fields = obj["fields"]
            object_id, ct_key = fields.get(fk_field.name), fields.get(ct_name)
            if not isinstance(object_id, list):
                continue
            target = None
            if isinstance(ct_key, list) and len(ct_key) == 2:
                try:
                    target = apps.get_model(*ct_key)
                except (LookupError, ValueError, TypeError):
                    target = None
            if target is None or not identity.has_natural_key(target):
                raise LoadError(
                    f"{plan.label} {describe(obj)}: {fk_field.name}={object_id!r} is a natural "
                    f"key, but its content type {ct_key!r} is not a model here that has one"
                )
            by_target.setdefault(target, []).append(obj)
        for target, objs in by_target.items():
            keys = {tuple(obj["fields"][fk_field.name]) for obj in objs}
            found = self.lookup(target, keys)
            for obj in objs:
                fields = obj["fields"]
                key = tuple(fields[fk_field.name])
                if key not in found:
                    self._unresolved(plan, obj, fk_field.name, target, key)
                    self._defer_generic(plan, obj, fk_field, target, key)
                    continue
                fields[fk_field.name] = fk_field.to_python(found[key])

    def _resolve_field(self, plan, chunk, name: str, target, many: bool, must: bool) -> None:
        keys = set()
        for obj in chunk:
            value = obj["fields"].get(name)
            if value is None:
                continue
            for item in value if many else (value,):
                if type(item) is list:
                    keys.add(tuple(item))
                elif must and item is not None:
                    raise _by_primary_key(plan, obj, name, target, item)
        if not keys:
            return
        found = self.lookup(target, keys)
        if len(found) < len(keys) and self._creates_missing(target):
            found.update(self._create_content_types(plan, keys - found.keys()))
        for obj in chunk:
            fields = obj["fields"]
            value = fields.get(name)
            if value is None:
                continue
            if many:
                resolved = []
                for item in value:
                    if type(item) is list:
                        pk = found.get(tuple(item))
                        if pk is None:
                            self._unresolved(plan, obj, name, target, tuple(item))
                            resolved = None
                            break
                        item = pk
                    resolved.append(item)
                if resolved is not None:
                    fields[name] = resolved
            elif type(value) is list:
                pk = found.get(tuple(value))
                if pk is None:
                    self._unresolved(plan, obj, name, target, tuple(value))
                else:
                    fields[name] = pk

    # -- fixtures inside values ---------------------------------------------

    def _resolve_fixtures(self, plan: _Plan, chunk: list[dict], final: bool = False) -> None:
        """The objects inside each fixture value of ``chunk``, a model at a time.

        A value naming a row that comes later in this sync is written as sent
        and resolved again at :meth:`finish` (``final``: nothing comes later).
        """
        held, by_model = embedded.gather(plan.label.lower(), chunk, plan.fixtures)
        misses: dict[int, list[str]] = {}  # id() of an object: the labels it missed
        waiting: set[int] = set()  # id() of the objects that name rows still to come
        for label, objects in by_model.items():
            try:
                inner_plan = self._plan(label)
            except (LookupError, ValueError):
                continue  # a model this code does not have: its ids stay as sent
            if inner_plan is not None:
                _InnerObjects(self, inner_plan, objects, final).resolve(misses, waiting)
        for obj, name, objects, sent in held:
            if not final and obj.get("pk") is not None and any(id(o) in waiting for o in objects):
                self.deferred_fixtures.append((plan.model, obj["pk"], name, sent))
                continue
            if json.loads(sent) != objects:
                obj["fields"][name] = embedded.dump(objects)
            for inner in objects:
                for label in misses.get(id(inner), ()):
                    self.fixture_misses[label] = self.fixture_misses.get(label, 0) + 1

    def _finish_fixtures(self) -> None:
        for model, pk, name, sent in self.deferred_fixtures:
            obj = {"model": identity.model_label(model), "pk": pk, "fields": {name: sent}}
            self._resolve_fixtures(self._plan(obj["model"]), [obj], final=True)
            model._base_manager.using(self.using).filter(pk=pk).update(
                **{name: obj["fields"][name]}
            )
        self.deferred_fixtures.clear()

    def _creates_missing(self, target: type[models.Model]) -> bool:
        """Whether a missing row of ``target`` is made here rather than refused:
        a content type, whose natural key is the whole row, when this sync
        does not carry content types itself."""
        return identity.model_label(target) == CONTENT_TYPE and CONTENT_TYPE not in self.upcoming

    def _create_content_types(self, plan: _Plan, keys: set[tuple]) -> dict[tuple, object]:
        """Make the content types production refers to and this database lacks.

        Production keeps the content type of a model it no longer has (a
        stale one, with its permissions) and of apps this code does not have;
        Django makes a content type the first time one is asked for. Its
        natural key, ``(app_label, model)``, is all of it, so the copy made
        here is exact. Made in the sync's transaction, so a failed sync
        leaves none behind.
        """
        from django.contrib.contenttypes.models import ContentType

        limits = [ContentType._meta.get_field(name).max_length for name in ("app_label", "model")]
        made = {}
        for key in sorted(keys, key=repr):
            if len(key) != 2 or not all(
                isinstance(part, str) and 0 < len(part) <= limit
                for part, limit in zip(key, limits, strict=True)
            ):
                raise LoadError(
                    f"{plan.label}: {list(key)!r} is not the natural key of a content type "
                    "(app label, model)"
                )
            content_type, _ = ContentType.objects.db_manager(self.using).get_or_create(
                app_label=key[0], model=key[1]
            )
            made[key] = content_type.pk
            self.remember(ContentType, key, content_type.pk)
            self.created_content_types.append(".".join(key))
        return made

    def _unresolved(self, plan: _Plan, obj: dict, name: str, target, key: tuple) -> None:
        """Leave a forward reference to Django's deserializer, or fail naming it."""
        label = identity.model_label(target)
        if target is plan.model._meta.concrete_model and plan.key_identified and plan.own is None:
            raise LoadError(
                f"{plan.label}: {name}={list(key)!r} refers to a row that comes later in "
                f"the stream; {plan.label}'s natural key is read through natural_key() (not "
                "from its fields), so a row cannot be matched before the rows it depends on"
            )
        if label in self.upcoming:
            return  # loaded later in this sync: Django defers it and resolves it at the end
        raise LoadError(
            f"{plan.label} {describe(obj)}: {name}={list(key)!r} does not resolve: no "
            f"{target._meta.label} has that natural key here, and this sync does not carry one"
        )

    def _defer_generic(self, plan: _Plan, obj: dict, fk_field, target, key: tuple) -> None:
        """Write a placeholder now, the object id once the target is loaded (:meth:`finish`).

        Django's deserializer cannot hold a natural key in an object id: left
        as it is, the list would be stored as its text.
        """
        if obj.get("pk") is None:
            raise LoadError(
                f"{plan.label} {describe(obj)}: {fk_field.name}={list(key)!r} points at a "
                f"{target._meta.label} that comes later in this sync, and the object has no "
                "primary key to come back to"
            )
        if fk_field.null:
            placeholder = None
        elif fk_field.has_default():
            placeholder = fk_field.get_default()
        else:
            placeholder = "" if isinstance(fk_field, models.CharField | models.TextField) else 0
        obj["fields"][fk_field.name] = placeholder
        self.deferred_generic.append((plan.model, obj["pk"], fk_field, target, key))

    def finish(self) -> None:
        """Set the object ids left for later (targets that came after their referrers)."""
        self._finish_fixtures()
        for model, pk, fk_field, target, key in self.deferred_generic:
            found = self.lookup(target, {key})
            if key not in found:
                raise LoadError(
                    f"{model._meta.label} pk={pk!r}: {fk_field.name}={list(key)!r} does not "
                    f"resolve: no {target._meta.label} has that natural key, even after the sync"
                )
            model._base_manager.using(self.using).filter(pk=pk).update(
                **{fk_field.attname: fk_field.to_python(found[key])}
            )
        self.deferred_generic.clear()

    def remember(self, model: type[models.Model], key: tuple, pk) -> None:
        """Record the local primary key of a row just created."""
        self.lookups.remember(model, key, pk)

    def lookup(self, model: type[models.Model], keys: set[tuple]) -> dict[tuple, object]:
        """``{natural key: local primary key}`` for the keys that exist here."""
        return self.lookups.lookup(model, keys)


class _InnerObjects:
    """The objects of one model inside fixture values, resolved in bulk and
    leniently: a natural key with no row here leaves the reference empty."""

    def __init__(self, resolver: KeyResolver, plan: _Plan, objects: list[dict], final: bool):
        self.resolver = resolver
        self.plan = plan
        self.objects = objects
        self.final = final

    def resolve(self, misses: dict[int, list[str]], waiting: set[int]) -> None:
        self.misses = misses
        self.waiting = waiting
        plan = self.plan
        if plan.key_identified:
            self._own_keys()
        for ct_name, fk_field in plan.generic:
            self._generic(ct_name, fk_field)
        for name, target, many, _must in plan.references:
            self._references(name, target, many)

    def _missing(self, obj: dict, target: type[models.Model]) -> None:
        label = identity.model_label(target)
        if not self.final and label in self.resolver.upcoming:
            self.waiting.add(id(obj))
        self.misses.setdefault(id(obj), []).append(label)

    def _own_keys(self) -> None:
        """A key-identified object's pk (the server sends none): the local row
        with the natural key its fields give, or null (Django's deserializer
        then looks the row up by that natural key itself)."""
        plan, keys = self.plan, {}
        for obj in self.objects:
            try:
                keys[id(obj)] = plan.own(obj["fields"]) if plan.own is not None else None
            except (KeyError, TypeError, IndexError, ValidationError):
                keys[id(obj)] = None
        found = self.resolver.lookup(plan.model, {k for k in keys.values() if k is not None})
        for obj in self.objects:
            pk = found.get(keys[id(obj)])
            if pk is None and keys[id(obj)] is not None:
                self._missing(obj, plan.model)
            fields = obj.pop("fields")
            obj.pop("pk", None)
            obj["pk"] = pk
            obj["fields"] = fields

    def _generic(self, ct_name: str, fk_field) -> None:
        by_target: dict[type[models.Model], list[dict]] = {}
        for obj in self.objects:
            fields = obj["fields"]
            object_id, ct_key = fields.get(fk_field.name), fields.get(ct_name)
            if not isinstance(object_id, list):
                continue
            try:
                target = apps.get_model(*ct_key)
            except (LookupError, ValueError, TypeError):
                fields[fk_field.name] = nowhere_in_history(fk_field)
                continue
            by_target.setdefault(target, []).append(obj)
        for target, objs in by_target.items():
            found = self.resolver.lookup(target, {tuple(o["fields"][fk_field.name]) for o in objs})
            for obj in objs:
                pk = found.get(tuple(obj["fields"][fk_field.name]))
                if pk is None:
                    self._missing(obj, target)
                fields = obj["fields"]
                fields[fk_field.name] = (
                    nowhere_in_history(fk_field) if pk is None else fk_field.to_python(pk)
                )

    def _references(self, name: str, target, many: bool) -> None:
        keys = set()
        for obj in self.objects:
            value = obj["fields"].get(name)
            for item in (value if isinstance(value, list) else ()) if many else (value,):
                if type(item) is list:
                    keys.add(tuple(item))
        if not keys:
            return
        found = self.resolver.lookup(target, keys)

        def local(obj: dict, item):
            """The local id a natural key names, or the natural key itself."""
            if type(item) is not list:
                return item
            pk = found.get(tuple(item))
            if pk is None:
                self._missing(obj, target)
                return item
            return pk

        for obj in self.objects:
            fields = obj["fields"]
            value = fields.get(name)
            if many and isinstance(value, list):
                fields[name] = [local(obj, v) for v in value]
            elif not many and type(value) is list:
                fields[name] = local(obj, value)
