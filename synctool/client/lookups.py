"""Natural keys looked up in the local database, in bulk, and cached.

:class:`KeyLookups` answers "which local row has this natural key?" for
many keys at once: one query per chunk of keys over the model's key paths
(:func:`synctool.identity.key_paths`), or ``get_by_natural_key`` one key at
a time for a model whose natural key is not a tuple of field values.
:class:`OwnKey` reads an object's own natural key from its fields as sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import connections, models

from synctool import identity
from synctool.exceptions import LoadError


class OwnKey:
    """Computes a key-identified object's natural key from its fields as sent.

    A key path ``content_type__app_label`` reads component ``app_label`` of
    the natural key sent for ``content_type``.
    """

    def __init__(
        self, model: type[models.Model], paths: tuple[str, ...], key_identified: frozenset[str]
    ):
        self.getters = []
        self.converters = []
        for path in paths:
            head, _, rest = path.partition("__")
            field = _field_named(model, head)
            if not rest:
                self.getters.append((field.name, None))
            else:
                target = field.related_model if field.is_relation else None
                target_paths = identity.key_paths(target) if target is not None else None
                by_key = target is not None and identity.model_label(target) in key_identified
                if not by_key or not target_paths or rest not in target_paths:
                    raise LookupError(path)
                self.getters.append((field.name, target_paths.index(rest)))
            self.converters.append(identity.path_field(model, path).to_python)

    def __call__(self, fields: dict) -> tuple:
        parts = []
        for (name, index), convert in zip(self.getters, self.converters, strict=True):
            value = fields[name]
            if index is not None:
                if not isinstance(value, list):
                    raise KeyError(name)
                value = value[index]
            parts.append(convert(value))
        return tuple(parts)


def _field_named(model: type[models.Model], name: str) -> models.Field:
    for field in model._meta.concrete_fields:
        if name in (field.name, field.attname):
            return field
    raise LookupError(name)


class KeyLookups:
    """The natural keys of one sync's database, looked up in bulk and cached.

    :param flush: called with a model before its rows are looked up, so that
        rows of it still waiting in a batch are written first.
    """

    def __init__(self, using: str, flush: Callable[[type[models.Model]], None]):
        self.using = using
        self.flush = flush
        self._pks: dict[type[models.Model], identity.BoundedCache] = {}

    def remember(self, model: type[models.Model], key: tuple, pk) -> None:
        """Record the local primary key of a row just created."""
        self._pks.setdefault(model._meta.concrete_model, identity.BoundedCache()).remember(key, pk)

    def lookup(self, model: type[models.Model], keys: set[tuple]) -> dict[tuple, object]:
        """``{natural key: local primary key}`` for the keys that exist here."""
        model = model._meta.concrete_model
        cache = self._pks.setdefault(model, identity.BoundedCache())
        missing = [key for key in keys if key not in cache]
        if missing:
            self.flush(model)
            for key, pk in self._fetch(model, missing):
                cache.remember(key, pk)
        return {key: cache[key] for key in keys if key in cache}

    def _fetch(self, model: type[models.Model], keys: list[tuple]) -> Iterator[tuple]:
        paths = identity.key_paths(model)
        if paths is None:
            yield from self._fetch_one_by_one(model, keys)
            return
        manager = model._base_manager.using(self.using)
        converters = [identity.path_field(model, path).to_python for path in paths]
        limit = connections[self.using].features.max_query_params or 30_000
        size = max(1, min(identity.LOOKUP_CHUNK, limit // (len(paths) + 1)))
        for chunk in identity.chunks(keys, size):
            wanted = {}
            for key in chunk:
                if len(key) != len(paths):
                    continue  # cannot be a natural key of this model
                try:
                    normal = tuple(c(part) for c, part in zip(converters, key, strict=True))
                except (ValidationError, TypeError, ValueError):
                    continue
                wanted[normal] = key
            if not wanted:
                continue
            filters = {
                f"{path}__in": {normal[index] for normal in wanted}
                for index, path in enumerate(paths)
            }
            for pk, *parts in manager.filter(**filters).order_by().values_list("pk", *paths):
                original = wanted.get(tuple(parts))
                if original is not None:
                    yield original, pk

    def _fetch_one_by_one(self, model: type[models.Model], keys: list[tuple]) -> Iterator[tuple]:
        manager = model._default_manager.db_manager(self.using)
        for key in keys:
            try:
                yield key, manager.get_by_natural_key(*key).pk
            except ObjectDoesNotExist:
                continue
            except Exception as exc:
                raise LoadError(
                    f"{model._meta.label}: natural key {list(key)!r} could not be looked up: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
