"""Foreign keys checked by key for the models an incremental sync changed in place.

After a sync the loader checks the foreign keys of every table it wrote
(Django's ``check_constraints``). On SQLite that reads whole tables
(``PRAGMA foreign_key_check``): for an incremental sync that changed 1,400
rows of 200,000 it was most of the sync's checking. In a model compared row
by row (mode ``content``) only two kinds of row can break a reference: the
rows written, and rows pointing at rows deleted (gone from the server, or
deleted to be loaded again). Those are checked here, a few hundred keys per
query, with the same message as Django's check.

Only where the database also enforces deferred foreign keys at the commit
(SQLite): whatever this missed would still fail the sync there, unnamed,
never commit. A model whose references point at a model emptied whole (a
model synced in full) is checked whole, as before: its unchanged rows may
point at rows that are gone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.db import IntegrityError, models
from django.db.models import Exists, OuterRef

from synctool.meta import auto_through_models

KEYS_PER_QUERY = 500


@dataclass
class ChangedRows:
    """The keys of the rows an incremental sync wrote and deleted in one model,
    read again from its spools for each use (they may be many)."""

    written: Callable[[], Iterable[int]]
    deleted: Callable[[], Iterable[int]]


def batches(keys: Iterable[int], size: int = KEYS_PER_QUERY) -> Iterator[list[int]]:
    keys = iter(keys)
    while batch := list(itertools.islice(keys, size)):
        yield batch


def constrained_keys(model: type[models.Model]) -> list[models.Field]:
    """``model``'s own foreign keys the database enforces (one-to-one included)."""
    return [
        f
        for f in model._meta.local_concrete_fields
        if f.is_relation and (f.many_to_one or f.one_to_one) and f.db_constraint
    ]


def tables_of(model: type[models.Model]) -> list[type[models.Model]]:
    """``model`` and its auto-created many-to-many tables."""
    return [model, *(through for _, through in auto_through_models(model))]


def narrowable(model: type[models.Model], emptied: set[type[models.Model]]) -> bool:
    """Whether ``model`` (and its many-to-many tables) can be checked by key:
    none of their references points at a model emptied whole."""
    return not any(
        f.remote_field.model._meta.concrete_model in emptied
        for table in tables_of(model)
        for f in constrained_keys(table)
    )


def _first_broken(queryset: models.QuerySet, key: models.Field) -> tuple | None:
    """``(pk, value)`` of the first row of ``queryset`` whose ``key`` names no row."""
    target = key.remote_field.model
    exists = Exists(
        target._base_manager.using(queryset.db).filter(
            **{key.target_field.attname: OuterRef(key.attname)}
        )
    )
    return (
        queryset.filter(**{f"{key.attname}__isnull": False})
        .exclude(exists)
        .order_by()
        .values_list("pk", key.attname)
        .first()
    )


def broken_message(table: type[models.Model], key: models.Field, broken: tuple) -> str:
    """Django's words for a broken reference (its ``check_constraints``'), with the
    model's label."""
    pk, value = broken
    target = key.remote_field.model
    return (
        f"The row in table '{table._meta.db_table}' ({table._meta.label}) with primary key "
        f"'{pk}' has an invalid foreign key: {table._meta.db_table}.{key.column} contains a "
        f"value '{value}' that does not have a corresponding value in "
        f"{target._meta.db_table}.{key.target_field.column}."
    )


def _refuse(table: type[models.Model], key: models.Field, broken: tuple) -> None:
    raise IntegrityError(broken_message(table, key, broken))


def first_broken_reference(using: str, checked: Iterable[type[models.Model]]) -> str | None:
    """The first broken reference in the tables of ``checked`` (whole tables),
    in :func:`broken_message`'s words; None if none is found. Looked for after
    the database refused the data without naming the row (PostgreSQL names the
    key only)."""
    for model in dict.fromkeys(checked):
        for table in tables_of(model):
            for key in constrained_keys(table):
                broken = _first_broken(table._base_manager.using(using).all(), key)
                if broken is not None:
                    return broken_message(table, key, broken)
    return None


def check_changed_rows(using: str, changed: dict[type[models.Model], ChangedRows]) -> None:
    """Raise IntegrityError for the first broken reference among the rows written
    in ``changed``'s models (and their many-to-many rows), or pointing from one
    of them at a row deleted there."""
    for model, rows in changed.items():
        for table in tables_of(model):
            # The rows written: a model's own, or its many-to-many rows (by source).
            source = "pk"
            if table is not model:
                field = next(f for f, through in auto_through_models(model) if through is table)
                source = table._meta.get_field(field.m2m_field_name()).attname
            for key in constrained_keys(table):
                for part in batches(rows.written()):
                    written = table._base_manager.using(using).filter(**{f"{source}__in": part})
                    broken = _first_broken(written, key)
                    if broken is not None:
                        _refuse(table, key, broken)
                # Rows pointing at rows deleted in the model the key points at.
                target = changed.get(key.remote_field.model._meta.concrete_model)
                if target is None:
                    continue
                gone = itertools.chain(target.deleted(), target.written())
                for part in batches(gone):
                    pointing = table._base_manager.using(using).filter(
                        **{f"{key.attname}__in": part}
                    )
                    broken = _first_broken(pointing, key)
                    if broken is not None:
                        _refuse(table, key, broken)
