"""Server side: turn querysets into a stream of fixture objects.

Querysets are regrouped in dependency order, read with ``iterator()`` in
chunks (memory stays flat), serialized by primary key by
:mod:`synctool.server.rowexport` for plain models or by Django's own python
serializer otherwise (custom fields, querysets the route function already
evaluated), rewritten to the identity rule by :mod:`synctool.server.identity`
(natural keys where the model says so), and passed through
``transform_object``.
"""

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from itertools import islice

from django.core import serializers
from django.db import connections, models
from django.db.models import prefetch_related_objects

from synctool import embedded
from synctool.backends import backend_for
from synctool.conf import settings
from synctool.identity import key_identified_labels
from synctool.identity import model_label as concrete_label
from synctool.meta import auto_many_to_many, sort_models
from synctool.plugins import get_hooks, is_implemented
from synctool.server.identity import KeyEncoder
from synctool.server.rowexport import row_serializer

logger = logging.getLogger("synctool")


def model_label(model: type[models.Model]) -> str:
    """The label used in fixtures: ``app_label.modelname`` in lower case."""
    return str(model._meta)


def order_querysets(querysets: Iterable[models.QuerySet]) -> list[models.QuerySet]:
    """Regroup querysets so each model comes after the models it points to.

    Querysets of the same model keep their relative order.
    """
    querysets = list(querysets)
    by_model: dict[type[models.Model], list[models.QuerySet]] = {}
    for queryset in querysets:
        by_model.setdefault(queryset.model._meta.concrete_model, []).append(queryset)
    return [qs for model in sort_models(by_model) for qs in by_model[model]]


def _prefetch_lookups(model: type[models.Model]) -> list[str]:
    """Many-to-many relations the serializer would otherwise query once per object."""
    return [field.name for field in auto_many_to_many(model)]


def _django_serialized(queryset: models.QuerySet, chunk_size: int) -> Iterator[dict]:
    serializer = serializers.get_serializer("python")()
    if queryset._result_cache is not None:
        rows = iter(queryset._result_cache)
    else:
        rows = backend_for(connections[queryset.db]).iterate(
            queryset, chunk_size, key_of=lambda obj: obj.pk
        )
    lookups = _prefetch_lookups(queryset.model)
    while chunk := list(islice(rows, chunk_size)):
        if lookups:
            prefetch_related_objects(chunk, *lookups)
        yield from serializer.serialize(chunk)


def serialized_objects(queryset: models.QuerySet, chunk_size: int) -> Iterator[dict]:
    """The fixture objects of one queryset, by primary key, by the fastest exact path.

    A queryset the route function already evaluated (and possibly changed,
    as in the seed's "Modifying querysets" example) is sent as it is, through
    Django's serializer; any other is read in primary-key order unless it has
    an order of its own or is sliced. References travel as primary keys
    here; :class:`~synctool.server.identity.KeyEncoder` applies the identity rule.
    """
    if queryset._result_cache is not None:
        return _django_serialized(queryset, chunk_size)
    if not queryset.ordered and not queryset.query.is_sliced:
        queryset = queryset.order_by(queryset.model._meta.pk.name)
    fast = row_serializer(queryset.model)
    if fast is None:
        return _django_serialized(queryset, chunk_size)
    return fast.serialize(queryset, chunk_size)


@contextlib.contextmanager
def one_snapshot(databases: Iterable[str]) -> Iterator[None]:
    """Read ``databases`` inside one transaction each, as one consistent snapshot.

    Every queryset of a route then sees the same state of the database, so
    rows written while the route streams cannot leave a foreign key of the
    fixture pointing at a row it does not carry. On PostgreSQL and
    MySQL/MariaDB the transaction is ``REPEATABLE READ`` (Django's default
    is ``READ COMMITTED``: a snapshot per query), which takes no lock. On
    PostgreSQL, the server-side cursors of ``iterator()`` then no longer
    need ``WITH HOLD``, which made PostgreSQL copy a query's whole result
    (to temporary files, for a large one) before sending its first row.

    Other backends read as before, query by query: on SQLite a transaction
    held for the whole response would lock out the site's writers (with
    ``"transaction_mode": "IMMEDIATE"``, from its start). Inside a
    transaction the caller opened, that transaction is used as it is.
    """
    opened_in = threading.get_ident()
    wrappers = [connections[alias] for alias in dict.fromkeys(databases)]
    with contextlib.ExitStack() as stack:
        for wrapper in wrappers:
            stack.enter_context(backend_for(wrapper).snapshot())
        try:
            yield
        finally:
            if threading.get_ident() != opened_in:
                # Closed from another thread (a stream the garbage collector
                # finalizes): ending the transactions here would use this
                # thread's connections. The stream's own are closed instead.
                stack.pop_all()
                _close_foreign(wrappers)


def _close_foreign(wrappers) -> None:
    """Close the database connections of another thread's snapshot, which no
    one else uses any more: the server ends their transactions."""
    for wrapper in wrappers:
        raw = wrapper.connection
        if raw is not None:
            with contextlib.suppress(Exception):
                raw.close()


def serialize_querysets(
    querysets: Iterable[models.QuerySet], *, key_identified: frozenset[str] | None = None
) -> Iterator[dict]:
    """Yield the fixture objects of ``querysets`` (already in load order), in one snapshot.

    ``key_identified``: the labels of the models identified by natural key
    (:func:`synctool.identity.key_identified_labels` when None).
    """
    querysets = list(querysets)
    if key_identified is None:
        key_identified = key_identified_labels()
    with one_snapshot(queryset.db for queryset in querysets):
        yield from _serialize(querysets, key_identified)


def _serialize(querysets: list[models.QuerySet], key_identified: frozenset[str]) -> Iterator[dict]:
    chunk_size = settings.SYNCTOOL_CHUNK_SIZE
    hooks = get_hooks()
    transform = is_implemented("transform_object")
    for queryset in querysets:
        encoder = KeyEncoder(queryset.db, key_identified, chunk_size)
        objects = encoder.encode(serialized_objects(queryset, chunk_size))
        label = concrete_label(queryset.model)
        fixtures = embedded.fixture_fields(label)
        if not transform:
            yield from objects
        else:
            for obj in objects:
                if False in hooks.transform_object(obj=obj, side="server"):
                    continue
                if fixtures:  # the objects inside: scrubbed as the rows are
                    embedded.transform_inner(label, obj, hooks.transform_object, side="server")
                yield obj
        if encoder.dangling:
            logger.info(
                "synctool: %s: %d reference(s) to deleted rows of models identified by "
                "natural key sent as pointing at no row",
                queryset.model._meta.label,
                encoder.dangling,
            )
