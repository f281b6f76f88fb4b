"""Writing batches as insert-or-update by primary key, the way every backend can.

``QuerySet.bulk_create(update_conflicts=True)`` would be the public way, but
it runs ``pre_save()`` on every field, so ``auto_now``/``auto_now_add``
values from the server would be replaced by the local time. ``loaddata``
avoids that with raw saves; :class:`Writer` does the same in bulk through
the manager's ``_insert(raw=True)``, the very call ``Model.save()`` makes,
with Django's own ``ON CONFLICT`` support. Rows that cannot take that path
(multi-table inheritance children, rows without a primary key, a table that
refuses upserts) are saved one by one with ``save_base(raw=True)``, exactly
like ``loaddata``.

Each backend's writer (``backends/<vendor>.py``) replaces what it does
faster; the batch writer of the client (:mod:`synctool.client.batches`)
hands every batch to one, and nothing comes back but errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.db import DatabaseError, models
from django.db.models.constants import OnConflict

from synctool.meta import written_columns

NONE: frozenset[str] = frozenset()
# Below this many rows, Django's own bulk INSERT is used (it is as fast).
FAST_PATH_THRESHOLD = 200
MISSING_SCHEMA = (
    "no such table",
    "no such column",
    "does not exist",
    "doesn't exist",
    "unknown column",
)


def refused_batch(model: type[models.Model], count: int, exc: DatabaseError) -> str:
    """The message of a batch the database refused, in the model's terms.

    The temporary table of PostgreSQL's upsert (``synctool_<table>``) is
    named as the model's own table; a missing table or column says to migrate.
    """
    table = model._meta.db_table
    text = str(exc).strip().replace(f"synctool_{table}"[:63], table)
    hint = ""
    if any(words in text.lower() for words in MISSING_SCHEMA):
        hint = ": is this database migrated? Run `manage.py migrate`"
    lines = text.splitlines()
    first_line = lines[0] if lines else type(exc).__name__
    # PostgreSQL names the clashing key on its DETAIL line ("Key (code)=(X)
    # already exists."): keep it.
    detail = next((line for line in lines[1:] if line.startswith("DETAIL:")), None)
    if detail:
        first_line += ": " + detail.removeprefix("DETAIL:").strip()
    return (
        f"{model._meta.label}: the database refused a batch of {count} rows "
        f"({type(exc).__name__}: {first_line}){hint}"
    )


def column_values(model: type[models.Model], instances: list[models.Model]) -> list[list]:
    """Each instance's values of :func:`~synctool.meta.written_columns`."""
    attnames = [field.attname for field in written_columns(model)]
    return [[obj.__dict__[attname] for attname in attnames] for obj in instances]


def column_positions(model: type[models.Model]) -> list[int] | None:
    """Where each written column sits among the concrete fields (None: the same order)."""
    concrete = model._meta.concrete_fields
    columns = written_columns(model)
    if list(concrete) == columns:
        return None
    return [concrete.index(field) for field in columns]


def on_conflict_clause(
    fields, pk: models.Field, quote: Callable[[str], str], keep: frozenset[str] = NONE
) -> str:
    """``ON CONFLICT (pk) DO UPDATE SET`` every other column but ``keep`` (attnames).

    Kept columns are those the server does not send: an existing row keeps
    its value, a new row gets the field's default. PostgreSQL and SQLite.
    """
    updates = ", ".join(
        f"{quote(field.column)} = EXCLUDED.{quote(field.column)}"
        for field in fields
        if not field.primary_key and field.attname not in keep
    )
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return f"ON CONFLICT ({quote(pk.column)}) {action}"


def _value_bytes(value) -> int:
    """About how many bytes ``value`` takes in an SQL statement (at most)."""
    if isinstance(value, str):
        return len(value) if value.isascii() else 4 * len(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return 2 * len(value)
    return 24


class Writer:
    """Writes the batches of one sync into one database (a context manager).

    :attr:`keep`: per model, the attnames an update leaves alone (fields the
    server does not send).
    """

    # Whether large batches have a faster path than Django's bulk insert here.
    fast_path = False
    # A write sent but not answered yet (PostgreSQL's straight COPY), or None.
    in_flight = None

    def __init__(self, backend):
        self.backend = backend
        self.connection = backend.connection
        self.using = backend.connection.alias
        self.keep: dict[type[models.Model], frozenset[str]] = {}

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.settle()
        else:
            self.abandon()

    def settle(self) -> None:
        """Wait for any write still in flight (PostgreSQL's straight COPY)."""

    def abandon(self) -> None:
        """Drop any write still in flight: an error is on its way."""

    def can_upsert(self, model: type[models.Model]) -> bool:
        """Whether batches of ``model`` can be written in bulk (else one by one)."""
        if model._meta.parents or model._meta.proxy:
            return False
        return self.backend.supports_upsert(model)

    # -- batches ------------------------------------------------------------

    def write(self, model: type[models.Model], instances: list[models.Model]) -> None:
        """Insert ``instances`` (all with a primary key), updating rows whose key exists."""
        self.settle()
        large = len(instances) >= FAST_PATH_THRESHOLD and self.fast_path
        if large and self.write_fast(model, column_values(model, instances)):
            return
        self.bulk_upsert(model, instances)

    def write_rows(
        self, model: type[models.Model], rows: list[list], new_instance: Callable[..., models.Model]
    ) -> None:
        """Like :meth:`write`, from rows of concrete field values (in the model's order).

        Instances are made with ``new_instance(*row)`` only for the paths
        that need them (Django's bulk insert).
        """
        self.settle()
        if len(rows) >= FAST_PATH_THRESHOLD and self.fast_path:
            positions = column_positions(model)
            columns = rows if positions is None else [[row[i] for i in positions] for row in rows]
            if self.write_fast(model, columns):
                return
        self.bulk_upsert(model, [new_instance(*row) for row in rows])

    def write_fast(self, model: type[models.Model], rows: list[list]) -> bool:
        """Write rows of :func:`~synctool.meta.written_columns` a faster way; False: none here."""
        return False

    def bulk_upsert(self, model: type[models.Model], instances: list[models.Model]) -> None:
        """Django's own multi-row ``INSERT ... ON CONFLICT`` (raw saves)."""
        fields = written_columns(model)
        keep = self.keep.get(model, NONE)
        update_fields = [f for f in fields if not f.primary_key and f.attname not in keep]
        if update_fields:
            self.insert(
                model, instances, fields, OnConflict.UPDATE, update_fields, [model._meta.pk]
            )
        else:
            self.insert(model, instances, fields, OnConflict.IGNORE)

    def insert(
        self, model, instances, fields, on_conflict=None, update_fields=None, unique_fields=None
    ) -> None:
        """``Manager._insert(raw=True)`` (what ``Model.save()`` calls), in batches."""
        if not instances:
            return
        batch_size = max(self.connection.ops.bulk_batch_size(fields, instances), 1)
        manager = model._base_manager
        for batch in self.batches(instances, fields, batch_size):
            manager._insert(
                batch,
                fields=fields,
                using=self.using,
                raw=True,
                on_conflict=on_conflict,
                update_fields=update_fields,
                unique_fields=unique_fields,
            )

    # The largest statement the database takes, in bytes (None: no limit that
    # a batch of rows could reach).
    statement_bytes: int | None = None

    def batches(self, instances: list, fields: list, batch_size: int) -> Iterator[list]:
        """``instances`` in slices of at most ``batch_size`` rows and, where the
        database limits a statement's size, of about half that size (values
        grow when quoted)."""
        budget = self.statement_bytes
        if budget is None:
            for start in range(0, len(instances), batch_size):
                yield instances[start : start + batch_size]
            return
        batch: list = []
        size = 0
        for instance in instances:
            row = sum(_value_bytes(getattr(instance, f.attname)) for f in fields)
            if batch and (len(batch) >= batch_size or size + row > budget // 2):
                yield batch
                batch, size = [], 0
            batch.append(instance)
            size += row
        if batch:
            yield batch

    def insert_new(self, model: type[models.Model], instances: list[models.Model]) -> None:
        """Plain multi-row INSERT of rows without a primary key (the database assigns it)."""
        self.settle()
        self.insert(model, instances, [f for f in written_columns(model) if not f.primary_key])

    # -- one by one -----------------------------------------------------------

    def save_raw(self, instance: models.Model) -> None:
        """Save one instance the way ``loaddata`` does (no model ``save()``, raw signals).

        Columns in :attr:`keep` are left alone when the row exists.
        """
        model = type(instance)
        keep = self.keep.get(model, NONE)
        exists = model._base_manager.using(self.using).filter(pk=instance.pk).exists
        if keep and instance.pk is not None and exists():
            names = [
                f.name
                for f in model._meta.concrete_fields
                if not f.primary_key and f.attname not in keep
            ]
            models.Model.save_base(instance, using=self.using, raw=True, update_fields=names)
            return
        models.Model.save_base(instance, using=self.using, raw=True)

    def replace_many_to_many(self, model: type[models.Model], m2m_rows: dict[str, dict]) -> None:
        """Replace the through rows of the given objects for each many-to-many field.

        ``m2m_rows`` maps a field name to ``{source pk: [target pks]}``.
        """
        for field_name, targets_by_source in m2m_rows.items():
            field = model._meta.get_field(field_name)
            through = field.remote_field.through
            source = through._meta.get_field(field.m2m_field_name())
            target = through._meta.get_field(field.m2m_reverse_field_name())
            manager = through._base_manager.db_manager(self.using)
            sources = list(targets_by_source)
            ops = self.connection.ops
            batch = max(ops.bulk_batch_size([source], sources), 1) if sources else 1
            for start in range(0, len(sources), batch):
                chunk = sources[start : start + batch]
                manager.filter(**{f"{source.attname}__in": chunk}).delete()
            rows = [
                through(**{source.attname: source_pk, target.attname: target_pk})
                for source_pk, target_pks in targets_by_source.items()
                for target_pk in target_pks
            ]
            manager.bulk_create(rows, batch_size=1000)
