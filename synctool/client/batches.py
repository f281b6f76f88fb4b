"""Batches of one model, written as insert-or-update.

The loader queues every object it builds here; :class:`BatchWriter` keeps
one pending batch per model and writes it when it is full, when the stream
moves to another model, or when a natural-key look-up needs its rows in the
database. Rows of a key-identified model that have no local row yet are
inserted without a primary key (the local sequence gives them one) and
their new keys are recorded for the references that follow.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable

from django.core.serializers import base
from django.db import DatabaseError, IntegrityError, connections, models

from synctool.backends import backend_for
from synctool.backends.writer import refused_batch
from synctool.client.rowload import RowBuilder
from synctool.conf import settings
from synctool.exceptions import HookError, LoadError, SynctoolError
from synctool.plugins import get_hooks, is_implemented
from synctool.result import SyncResult

BatchCallback = Callable[[type[models.Model], list[models.Model]], None]
# Called after each batch is written: (model, rows, seconds).
WrittenCallback = Callable[[type[models.Model], int, float], None]


@functools.cache
def interruptions() -> tuple[type[BaseException], ...]:
    """Exceptions that stop a sync from outside whatever code runs at the
    time: Celery's soft time limit (billiard's ``SoftTimeLimitExceeded``, an
    ``Exception``). They pass through a hook as they are, so a task stopped
    while a plugin ran fails as timed out, not as that plugin's error."""
    try:
        from billiard.exceptions import SoftTimeLimitExceeded
    except ImportError:
        return ()
    return (SoftTimeLimitExceeded,)


def call_hook(name: str, **kwargs):
    """Call hook ``name``; an exception raised by a plugin becomes a HookError
    (but a sync's own errors and :func:`interruptions` pass through)."""
    try:
        return getattr(get_hooks(), name)(**kwargs)
    except SynctoolError:
        raise
    except Exception as exc:
        if isinstance(exc, interruptions()):
            raise
        raise HookError(f"the {name} hook raised {type(exc).__name__}: {exc}") from exc


def unique_clash(
    model: type[models.Model],
    entries: list,
    exc: DatabaseError,
    using: str,
    key_identified: bool = False,
) -> str:
    """``": pk=3 has code='X', which local row pk=9 has too"`` for SQLite's unique
    errors, which name the columns but no row ("UNIQUE constraint failed:
    shop_coupon.code"); "" otherwise. PostgreSQL and MySQL name the key and
    its value themselves.

    SQLite's transaction stays usable after a refused statement, so the
    clashing rows can be looked up.
    """
    text = str(exc)
    if "UNIQUE constraint failed:" not in text:
        return ""
    table = model._meta.db_table
    columns = [
        part.strip().removeprefix(f"{table}.")
        for part in text.split("UNIQUE constraint failed:", 1)[1].splitlines()[0].split(",")
    ]
    fields = {f.column: f for f in model._meta.concrete_fields}
    if not all(column in fields for column in columns):
        return ""
    chosen = [fields[column] for column in columns]
    positions = {f.attname: i for i, f in enumerate(model._meta.concrete_fields)}
    pk_name = model._meta.pk.attname

    def value(entry, field):
        if type(entry) is list:
            return entry[positions[field.attname]]
        # A DeserializedObject (an instance with many-to-many values, or a
        # key-identified object), or an instance.
        return getattr(getattr(entry, "object", entry), field.attname)

    def named(entry, pk) -> str:
        # A key-identified object: by its natural key (its pk, if any, is
        # this database's, which production's rows do not share).
        natural = getattr(entry, "natural_key", None)
        if natural is None and key_identified:
            if type(entry) is list:
                instance = model(**{attname: entry[i] for attname, i in positions.items()})
            else:
                instance = getattr(entry, "object", entry)
            with contextlib.suppress(Exception):
                natural = instance.natural_key()
        if natural is None:
            return f"pk={pk!r}"
        return f"natural key {list(natural)!r}" + (f" (pk={pk!r} here)" if pk is not None else "")

    seen: dict[tuple, str] = {}
    manager = model._base_manager.using(using)
    for entry in entries[:2000]:
        key = tuple(value(entry, field) for field in chosen)
        pk = value(entry, model._meta.pk)
        name = named(entry, pk)
        shown = ", ".join(f"{field.name}={v!r}" for field, v in zip(chosen, key, strict=True))
        if key in seen and seen[key] != name:
            return f": {name} and {seen[key]} of this batch both have {shown}"
        seen[key] = name
        lookup = {field.attname: v for field, v in zip(chosen, key, strict=True)}
        try:
            others = manager.filter(**lookup)
            if pk is not None:
                others = others.exclude(pk=pk)
            other = others.first()
        except DatabaseError:
            return ""
        if other is not None:
            local = f"pk={getattr(other, pk_name)!r}"
            if callable(getattr(other, "natural_key", None)):
                local += f" (natural key {list(other.natural_key())!r})"
            return f": {name} has {shown}, which local row {local} has too"
    return ""


def unique_error(exc: DatabaseError) -> bool:
    """Whether the database refused a value a unique constraint holds elsewhere."""
    text = str(exc)
    return isinstance(exc, IntegrityError) and any(
        words in text
        for words in ("UNIQUE constraint failed", "violates unique constraint", "Duplicate entry")
    )


# Why a unique value clashes, by how the model's rows are matched (see clash_hint).
KEY_IDENTIFIED_CLASH = (
    "; {label} rows are matched by natural key and a sync never deletes them here: a local "
    "row still holding a value production has moved to another row (a rename, two values "
    "swapped, a row deleted there) stands in the way: change or delete that row here, then "
    "sync again"
)
MOVED_VALUE_CLASH = (
    "; a row here already holds that value: a row of this database's own, or one whose "
    "value production has since given to another row (a rename, two values swapped), "
    "which clashes when rows are updated in place: --clean or --incremental replace "
    "the route's rows, the local ones included"
)


COLLATION_CLASH = (
    "; this database compares {field} without regard to case (or trailing spaces), by "
    "its collation, where production does not: {ours!r} and {theirs!r} are one value "
    "here. Give the column a binary collation here (utf8mb4_bin on MySQL/MariaDB), or "
    "create the database with one"
)
DUPLICATE_ENTRY = re.compile(r"Duplicate entry '(.*)' for key", re.DOTALL)


def collation_clash(model: type[models.Model], entries: list, exc: DatabaseError, using: str):
    """MySQL/MariaDB: ``(field, one value, the other)`` when the duplicate the
    database refused differs from another value only in case or trailing
    spaces (a case-insensitive collation: production's ``dave`` and
    ``Dave`` are one user name here), else None."""
    found = DUPLICATE_ENTRY.search(str(exc))
    if found is None:
        return None
    value = found.group(1)
    alike = _alike(value)
    positions = {f.attname: i for i, f in enumerate(model._meta.concrete_fields)}
    manager = model._base_manager.using(using)
    for field in model._meta.concrete_fields:
        if not (field.unique and isinstance(field, models.CharField | models.TextField)):
            continue
        for entry in entries:
            if type(entry) is list:
                other = entry[positions[field.attname]]
            else:
                other = getattr(getattr(entry, "object", entry), field.attname, None)
            if isinstance(other, str) and other != value and _alike(other) == alike:
                return field.name, value, other
        try:
            stored = list(manager.filter(**{field.attname: value}).values_list(field.attname)[:5])
        except DatabaseError:
            continue
        for (other,) in stored:
            if isinstance(other, str) and other != value and _alike(other) == alike:
                return field.name, other, value
    return None


def _alike(value: str) -> str:
    return value.rstrip(" ").casefold()


SUBSET_CLASH = (
    "; this route does not send {label}'s table whole (a subset, or rows that came as "
    "parents), so no sync option replaces the local row holding that value: change or "
    "delete it here, then sync again"
)


def clash_hint(
    model: type[models.Model], key_identified: bool, rows_replaced: bool, whole_table: bool = True
) -> str:
    """What to do about a unique value the database refused in ``model``;
    ``whole_table``: whether the route sends the model's table whole (so
    that ``--clean`` may replace its rows)."""
    if key_identified:
        return KEY_IDENTIFIED_CLASH.format(label=model._meta.label)
    if not whole_table:
        return SUBSET_CLASH.format(label=model._meta.label)
    return "" if rows_replaced else MOVED_VALUE_CLASH


def _check_length(model: type[models.Model], pk, attname: str, value, limit: int) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise LoadError(
            f"{model._meta.label} pk={pk}: {attname} has {len(value)} "
            f"characters, the local field allows {limit}"
        )


class BatchWriter:
    """Collects objects per model and writes them in batches.

    An object arrives either as a ``DeserializedObject`` or, for plain
    models without many-to-many fields, as a row of field values
    (:meth:`RowBuilder.row`). Rows are written without building instances
    when nothing needs them (no ``post_save`` hook, no batch callback, a
    fast write path).
    """

    def __init__(self, using: str, result: SyncResult, on_batch: list[BatchCallback] = ()):
        self.using = using
        # The backend's writer: every batch goes to it, and nothing comes back.
        self.backend = backend_for(connections[using]).writer()
        self.batch_size = max(int(settings.SYNCTOOL_BATCH_SIZE), 1)
        self.pending: dict[type[models.Model], dict] = {}
        self.row_builders: dict[type[models.Model], RowBuilder] = {}
        self.deferred: list[base.DeserializedObject] = []
        self.written_models: set[type[models.Model]] = set()
        self.length_limits: dict[type[models.Model], list[tuple[int, str, int]]] = {}
        # Set by the loader: looks up the primary keys of rows it created.
        self.resolver = None
        # Set by the loader: told of every batch written (progress).
        self.on_written: WrittenCallback | None = None
        # Set by the loader: whether rows are deleted before they are loaded
        # (clean, incremental), so that a value moved between rows cannot clash.
        self.rows_replaced = False
        # Set by the loader: the models whose tables the routes send whole
        # (clean may empty them); a subset's are written over by key only.
        self.whole_tables: set[type[models.Model]] = set()
        self.switch_to(result, on_batch)

    def keep_columns(self, model: type[models.Model], attnames: frozenset[str]) -> None:
        """Leave these columns of ``model`` alone when a row is updated."""
        self.backend.keep[model] = attnames

    def switch_to(self, result: SyncResult, on_batch: list[BatchCallback]) -> None:
        """Count into ``result`` and call ``on_batch`` from now on (the next route)."""
        self.flush_all()  # what is pending still counts for the previous route
        self.result = result
        self.on_batch = list(on_batch)
        self.instances_needed = bool(self.on_batch) or is_implemented("post_save")

    def _queue(self, model: type[models.Model], key, entry) -> None:
        batch = self.pending.get(model)
        if batch is None:
            batch = self.pending[model] = {}
        # Keyed by primary key: a row sent twice is written once, the last wins.
        batch.pop(key, None)
        batch[key] = entry
        if len(batch) >= self.batch_size:
            self.flush(model)

    def add(self, item: base.DeserializedObject, natural_key: tuple | None = None) -> None:
        """Queue a built object; ``natural_key``: a key-identified object with no local row."""
        pk = item.object.pk
        if pk is not None:
            key = pk
        elif natural_key is not None:
            item.natural_key = natural_key
            key = ("new", natural_key)
        else:
            key = (None, id(item))
        self._queue(type(item.object), key, item)

    def add_row(self, builder: RowBuilder, row: list) -> None:
        """Queue a row of ``builder``'s model (its primary key is set)."""
        self.row_builders[builder.model] = builder
        self._queue(builder.model, row[builder.pk_index], row)

    def flush_all(self) -> None:
        for model in list(self.pending):
            self.flush(model)

    def _length_limits(self, model: type[models.Model]) -> list[tuple[int, str, int]]:
        if model not in self.length_limits:
            self.length_limits[model] = [
                (index, field.attname, field.max_length)
                for index, field in enumerate(model._meta.concrete_fields)
                if isinstance(field, models.CharField) and field.max_length
            ]
        return self.length_limits[model]

    def check_lengths(self, model: type[models.Model], instances: list[models.Model]) -> None:
        """Refuse strings longer than the local field allows.

        PostgreSQL and strict MySQL refuse them; SQLite would store them
        silently. Checking here gives the same clear error on every backend.
        """
        for _, attname, limit in self._length_limits(model):
            for obj in instances:
                _check_length(model, obj.pk, attname, getattr(obj, attname), limit)

    def check_row_lengths(self, model: type[models.Model], rows: list[list], pk_index: int):
        """:meth:`check_lengths` for rows of concrete field values."""
        for index, attname, limit in self._length_limits(model):
            for row in rows:
                _check_length(model, row[pk_index], attname, row[index], limit)

    def flush(self, model: type[models.Model]) -> None:
        entries = list(self.pending.pop(model, {}).values())
        if not entries:
            return
        started = time.monotonic()
        try:
            self._flush(model, entries)
        except DatabaseError as exc:
            by_key = self.resolver is not None and (
                str(model._meta.concrete_model._meta) in self.resolver.key_identified
            )
            clash = unique_clash(model, entries, exc, self.using, by_key)
            if unique_error(exc):
                collation = collation_clash(model, entries, exc, self.using)
                if collation is not None:
                    field, ours, theirs = collation
                    clash += COLLATION_CLASH.format(field=field, ours=ours, theirs=theirs)
                else:
                    clash += clash_hint(
                        model, by_key, self.rows_replaced, model in self.whole_tables
                    )
            raise LoadError(refused_batch(model, len(entries), exc) + clash) from exc
        if self.on_written is not None:
            self.on_written(model, len(entries), time.monotonic() - started)

    def _flush(self, model: type[models.Model], entries: list) -> None:
        rows = [entry for entry in entries if type(entry) is list]
        if (
            rows
            and len(rows) == len(entries)
            and not self.instances_needed
            and self.backend.can_upsert(model)
        ):
            self._write_rows(model, rows)
            return
        if rows:
            new_instance = self.row_builders[model].new_instance
            entries = [
                base.DeserializedObject(new_instance(*entry)) if type(entry) is list else entry
                for entry in entries
            ]
        self._write_items(model, entries)

    def _write_rows(self, model: type[models.Model], rows: list[list]) -> None:
        builder = self.row_builders[model]
        self.check_row_lengths(model, rows, builder.pk_index)
        self.backend.write_rows(model, rows, builder.new_instance)
        self.written_models.add(model)
        self.result.counts(str(model._meta)).written += len(rows)

    def _write_items(self, model: type[models.Model], items: list[base.DeserializedObject]) -> None:
        instances = [item.object for item in items]
        self.check_lengths(model, instances)
        with_pk = [obj for obj in instances if obj.pk is not None]
        upsert = bool(with_pk) and self.backend.can_upsert(model)
        if upsert:
            self.backend.write(model, with_pk)
        for obj in instances if not upsert else ():
            if obj.pk is not None:
                self.backend.save_raw(obj)
        self._create(model, [item for item in items if item.object.pk is None])
        m2m_rows: dict[str, dict] = {}
        for item in items:
            for name, targets in (item.m2m_data or {}).items():
                m2m_rows.setdefault(name, {})[item.object.pk] = targets
            if item.deferred_fields:
                self.deferred.append(item)
        self.backend.replace_many_to_many(model, m2m_rows)
        self.written_models.add(model)
        self.result.counts(str(model._meta)).written += len(instances)
        call_hook("post_save", model=model, instances=instances, using=self.using)
        for callback in self.on_batch:
            callback(model, instances)

    def _create(self, model: type[models.Model], items: list[base.DeserializedObject]) -> None:
        """Insert rows that have no primary key; the database gives them one.

        Key-identified rows are inserted in bulk, then their new keys are
        looked up by natural key; the others are saved one by one, as
        ``loaddata`` does.
        """
        keyed = [item for item in items if getattr(item, "natural_key", None) is not None]
        if keyed and self.resolver is not None and self.backend.can_upsert(model):
            self.backend.insert_new(model, [item.object for item in keyed])
            found = self.resolver.lookup(model, {item.natural_key for item in keyed})
            for item in keyed:
                pk = found.get(item.natural_key)
                if pk is None:
                    raise LoadError(
                        f"{model._meta.label} natural key {list(item.natural_key)!r}: the row "
                        "was inserted but cannot be found by its natural key again (does "
                        "natural_key() match the fields it is made of?)"
                    )
                item.object.pk = pk
            items = [item for item in items if getattr(item, "natural_key", None) is None]
        for item in items:
            self.backend.save_raw(item.object)
            key = getattr(item, "natural_key", None)
            if key is not None and self.resolver is not None:
                self.resolver.remember(model, key, item.object.pk)

    def save_deferred(self) -> None:
        """Resolve references to objects that came later in the stream (natural keys)."""
        for item in self.deferred:
            obj = item.object
            label = str(obj._meta)
            m2m_rows = {}
            for field, value in item.deferred_fields.items():
                try:
                    if field.many_to_many:
                        m2m_rows[field.name] = {
                            obj.pk: base.deserialize_m2m_values(field, value, self.using, False)
                        }
                    else:
                        setattr(
                            obj,
                            field.attname,
                            base.deserialize_fk_value(field, value, self.using, False),
                        )
                except Exception as exc:
                    raise LoadError(
                        f"{label} pk={obj.pk}: {field.name}={value!r} does not resolve: {exc}"
                    ) from exc
            self.backend.save_raw(obj)
            for name, rows in m2m_rows.items():
                self.backend.replace_many_to_many(type(obj), {name: rows})
        self.deferred.clear()
