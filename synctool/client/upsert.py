"""Write model instances in batches as insert-or-update by primary key.

``QuerySet.bulk_create(update_conflicts=True)`` would be the public way, but
it runs ``pre_save()`` on every field, so ``auto_now``/``auto_now_add``
values from the server would be replaced by the local time. ``loaddata``
avoids that with raw saves; we do the same in bulk through the manager's
``_insert(raw=True)``, the very call ``Model.save()`` makes, with Django's
own ``ON CONFLICT``/``ON DUPLICATE KEY`` support. Models that cannot take
that path (multi-table inheritance children, rows without a primary key,
backends without upsert) are saved one by one with ``save_base(raw=True)``,
exactly like ``loaddata``.

Large batches take a faster, backend-specific route with the same
semantics, from rows of column values rather than instances
(:mod:`synctool.fastpaths`: PostgreSQL's COPY, SQLite's executemany).
:class:`Upserter` picks the path for each batch.
"""

import contextlib
from collections.abc import Callable

from django.db import DatabaseError, connections, models
from django.db.models.constants import OnConflict

from synctool import fastpaths
from synctool.backends import backend_for
from synctool.exceptions import LoadError
from synctool.fastpaths import written_columns


def can_upsert(model: type[models.Model], using: str) -> bool:
    """Whether ``model`` can be written by :class:`Upserter` on ``using``."""
    if model._meta.parents or model._meta.proxy:
        return False
    return backend_for(connections[using]).supports_upsert(model)


NONE: frozenset[str] = frozenset()

# Below this many rows, Django's own bulk INSERT is used (it is as fast).
FAST_PATH_THRESHOLD = 200


def column_values(model: type[models.Model], instances: list[models.Model]) -> list[list]:
    """The rows the fast paths write: each instance's values of :func:`written_columns`."""
    attnames = [field.attname for field in written_columns(model)]
    return [[obj.__dict__[attname] for attname in attnames] for obj in instances]


class Upserter:
    """Writes the batches of one sync as insert-or-update by primary key.

    Picks the fastest path that keeps those semantics for each batch, and
    remembers per model whether its table was empty when the sync first
    wrote to it: such a table takes PostgreSQL's straight COPY until a
    batch meets a key that is already there.

    Used as a context manager around the writes. A straight COPY is left
    in flight while the caller decodes the next batch; inside the block,
    every query Django runs on the connection first waits for it (an
    execute wrapper), and leaving the block waits for it too.
    """

    def __init__(self, using: str):
        self.using = using
        self.straight: dict[type[models.Model], bool] = {}
        self.in_flight: fastpaths.StraightCopy | None = None
        # Per model, the attnames an update leaves alone (fields the server does not send).
        self.keep: dict[type[models.Model], frozenset[str]] = {}
        self._scope = contextlib.ExitStack()

    def __enter__(self) -> "Upserter":
        self._scope.enter_context(connections[self.using].execute_wrapper(self._settle_first))
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        with self._scope:
            if exc_type is None:
                self.settle()
            else:
                self.abandon()

    def _settle_first(self, execute, sql, params, many, context):
        self.settle()
        return execute(sql, params, many, context)

    def settle(self) -> None:
        """Wait for the COPY in flight; if a key was already there, write its batch by upsert."""
        in_flight, self.in_flight = self.in_flight, None
        if in_flight is None:
            return
        model = in_flight.model
        try:
            if not in_flight.wait():
                self.straight[model] = False
                fastpaths.copy_upsert(model, in_flight.rows, self.using, self.keep.get(model, NONE))
        except DatabaseError as exc:
            # Answered while another model's batch is on its way: name the right one.
            from synctool.client.batches import refused_batch

            raise LoadError(refused_batch(model, len(in_flight.rows), exc)) from exc

    def abandon(self) -> None:
        """Free the connection of the COPY in flight, whatever its answer (an error is coming)."""
        in_flight, self.in_flight = self.in_flight, None
        if in_flight is not None:
            in_flight.abandon()

    def write(self, model: type[models.Model], instances: list[models.Model]) -> None:
        """Insert ``instances`` (all with a primary key), updating rows whose key exists."""
        self.settle()
        self._first_write(model)
        if (
            len(instances) >= FAST_PATH_THRESHOLD
            and self.has_fast_path()
            and self._write_fast(model, column_values(model, instances))
        ):
            return
        bulk_upsert(model, instances, self.using, self.keep.get(model, NONE))

    def write_rows(
        self, model: type[models.Model], rows: list[list], new_instance: Callable[..., models.Model]
    ) -> None:
        """Like :meth:`write`, from rows of concrete field values (in the model's order).

        Instances are made with ``new_instance(*row)`` only for the paths
        that need them (Django's bulk insert).
        """
        self.settle()
        self._first_write(model)
        if len(rows) >= FAST_PATH_THRESHOLD and self.has_fast_path():
            positions = _column_positions(model)
            columns = rows if positions is None else [[row[i] for i in positions] for row in rows]
            if self._write_fast(model, columns):
                return
        instances = [new_instance(*row) for row in rows]
        bulk_upsert(model, instances, self.using, self.keep.get(model, NONE))

    def has_fast_path(self) -> bool:
        """Whether large batches have a faster path than Django's bulk insert here."""
        connection = connections[self.using]
        return connection.vendor == "sqlite" or fastpaths.copy_cursor(connection) is not None

    def _first_write(self, model: type[models.Model]) -> None:
        if model not in self.straight:
            self.straight[model] = not model._base_manager.using(self.using).exists()

    def _write_fast(self, model: type[models.Model], rows: list[list]) -> bool:
        if self.straight[model]:
            in_flight = fastpaths.StraightCopy.send(model, rows, self.using)
            if in_flight is not None:
                self.in_flight = in_flight
                return True
            self.straight[model] = False
        keep = self.keep.get(model, NONE)
        return fastpaths.copy_upsert(model, rows, self.using, keep) or fastpaths.executemany_upsert(
            model, rows, self.using, keep
        )


def _column_positions(model: type[models.Model]) -> list[int] | None:
    """Where each of :func:`_columns` sits among the concrete fields (None: the same)."""
    concrete = model._meta.concrete_fields
    columns = written_columns(model)
    if list(concrete) == columns:
        return None
    return [concrete.index(field) for field in columns]


def bulk_upsert(
    model: type[models.Model],
    instances: list[models.Model],
    using: str,
    keep: frozenset[str] = frozenset(),
) -> None:
    """Django's own multi-row ``INSERT ... ON CONFLICT``/``ON DUPLICATE KEY`` (raw saves).

    ``keep``: attnames an update leaves alone.
    """
    connection = connections[using]
    fields = written_columns(model)
    update_fields = [f for f in fields if not f.primary_key and f.attname not in keep]
    if not connection.features.supports_update_conflicts_with_target:
        # MySQL/MariaDB: ON DUPLICATE KEY UPDATE fires on *any* unique key,
        # so a row clashing with another row's unique value would silently
        # overwrite that other row. Rows with a new key are inserted plainly
        # (such a clash is then an error); only rows whose key exists take
        # ON DUPLICATE KEY UPDATE, where InnoDB meets the primary key first.
        existing = _existing_pks(model, [obj.pk for obj in instances], using)
        _insert(model, [obj for obj in instances if obj.pk not in existing], fields, using)
        instances = [obj for obj in instances if obj.pk in existing]
        if update_fields:
            _insert(model, instances, fields, using, OnConflict.UPDATE, update_fields)
        return  # rows whose only column is an existing key: nothing to update
    if update_fields:
        _insert(model, instances, fields, using, OnConflict.UPDATE, update_fields, [model._meta.pk])
    else:
        _insert(model, instances, fields, using, OnConflict.IGNORE)


def insert_new(model: type[models.Model], instances: list[models.Model], using: str) -> None:
    """Plain multi-row INSERT of rows without a primary key (the database assigns it)."""
    fields = [field for field in written_columns(model) if not field.primary_key]
    _insert(model, instances, fields, using)


def _insert(
    model, instances, fields, using, on_conflict=None, update_fields=None, unique_fields=None
):
    """``Manager._insert(raw=True)`` (what ``Model.save()`` calls) in batches the backend takes."""
    if not instances:
        return
    batch_size = max(connections[using].ops.bulk_batch_size(fields, instances), 1)
    manager = model._base_manager
    for start in range(0, len(instances), batch_size):
        manager._insert(
            instances[start : start + batch_size],
            fields=fields,
            using=using,
            raw=True,
            on_conflict=on_conflict,
            update_fields=update_fields,
            unique_fields=unique_fields,
        )


def _existing_pks(model: type[models.Model], pks: list, using: str) -> set:
    queryset = model._base_manager.using(using)
    pk_field = model._meta.pk
    batch_size = max(connections[using].ops.bulk_batch_size([pk_field], pks), 1)
    return {
        pk
        for start in range(0, len(pks), batch_size)
        for pk in queryset.filter(pk__in=pks[start : start + batch_size]).values_list(
            "pk", flat=True
        )
    }


def save_raw(instance: models.Model, using: str, keep: frozenset[str] = frozenset()) -> None:
    """Save one instance the way ``loaddata`` does (no model ``save()``, raw signals).

    ``keep``: attnames an update of an existing row leaves alone.
    """
    if keep and instance.pk is not None:
        model = type(instance)
        if model._base_manager.using(using).filter(pk=instance.pk).exists():
            names = [
                f.name
                for f in model._meta.concrete_fields
                if not f.primary_key and f.attname not in keep
            ]
            models.Model.save_base(instance, using=using, raw=True, update_fields=names)
            return
    models.Model.save_base(instance, using=using, raw=True)


def replace_many_to_many(model: type[models.Model], m2m_rows: dict[str, dict], using: str) -> None:
    """Replace the through rows of the given objects for each m2m field.

    ``m2m_rows`` maps a field name to ``{source pk: [target pks]}``.
    """
    for field_name, targets_by_source in m2m_rows.items():
        field = model._meta.get_field(field_name)
        through = field.remote_field.through
        source = through._meta.get_field(field.m2m_field_name())
        target = through._meta.get_field(field.m2m_reverse_field_name())
        manager = through._base_manager.db_manager(using)
        sources = list(targets_by_source)
        batch = max(connections[using].ops.bulk_batch_size([source], sources), 1) if sources else 1
        for start in range(0, len(sources), batch):
            manager.filter(**{f"{source.attname}__in": sources[start : start + batch]}).delete()
        rows = [
            through(**{source.attname: source_pk, target.attname: target_pk})
            for source_pk, target_pks in targets_by_source.items()
            for target_pk in target_pks
        ]
        manager.bulk_create(rows, batch_size=1000)
