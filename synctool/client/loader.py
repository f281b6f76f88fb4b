"""The one transaction of a sync: clean, load every route, check, reset.

Everything happens inside ``transaction.atomic(using=...)``: any error
(bad JSON, a cut connection, an IntegrityError, a hook raising) rolls the
local database back to exactly what it was. A sync of several routes is
still one transaction: every route's models are cleaned first, then each
route is loaded in turn, and the constraint check and the sequence reset at
the end cover them all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.serializers import base
from django.db import DatabaseError, connections, models, router, transaction

from synctool import embedded, identity
from synctool.backends import backend_for
from synctool.client.batches import BatchCallback, BatchWriter, call_hook
from synctool.client.clean import Cleaner
from synctool.client.gate import ModelPlan
from synctool.client.identity import NATURAL_KEY, KeyResolver
from synctool.client.refcheck import (
    ChangedRows,
    check_changed_rows,
    first_broken_reference,
    narrowable,
    tables_of,
)
from synctool.client.rowload import RowBuilder, deserialize_one, diagnose
from synctool.client.subtypes import SubtypeRows
from synctool.client.trees import TreeRows
from synctool.exceptions import LoadError, SynctoolError, UnexpectedModel
from synctool.identity import key_identified_labels
from synctool.meta import sort_models
from synctool.plugins import is_implemented
from synctool.result import Progress, SyncResult

_MISSING = object()


def _transform_hook(**kwargs) -> list:
    return call_hook("transform_object", **kwargs)


# Allocations between two collections of CPython's youngest generation
# while a sync loads (the default is 700).
LOAD_GC_THRESHOLD = 100_000


@contextlib.contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Run the cyclic garbage collector less often while objects stream in.

    A sync allocates millions of short-lived objects (dicts, instances),
    all freed by reference counting; a collection every 700 allocations
    cost about a tenth of the client's CPU. Collections still run, every
    ``LOAD_GC_THRESHOLD`` allocations, so cycles (from a hook, say) are
    still freed. The threshold is process-wide and restored afterwards.
    """
    threshold = gc.get_threshold()
    if threshold[0] and threshold[0] < LOAD_GC_THRESHOLD:
        gc.set_threshold(LOAD_GC_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


@dataclass
class RoutePart:
    """One route of a sync: the models it announced and its stream of objects.

    ``objects`` is called when the loader reaches the route (so a route's
    body is only requested once the routes before it are loaded).
    """

    url: str
    labels: list[str]
    result: SyncResult
    objects: Callable[[], Iterable[dict]]
    # The route as named in the sync (progress events carry it).
    name: str = ""
    bytes_received: Callable[[], int] = lambda: 0
    on_batch: list[BatchCallback] = dataclasses.field(default_factory=list)
    # The models clean may empty (None: every announced model): a subset
    # route's own tables are not the route's, nor are its parents'.
    cleanable: list[str] | None = None
    # An incremental sync of this route (synctool.client.increment.RouteIncrement).
    increment: object | None = None


def _model(url: str, label: str) -> type[models.Model]:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        raise LoadError(f"{url} serves model {label!r}, which is not installed here") from None


class SyncLoader:
    """Loads the objects of one or more routes into ``using`` in one transaction.

    :param key_identified: labels of the models identified by natural key
        (what the server announced); contenttypes, permissions and
        ``SYNCTOOL_NATURAL_KEYS`` are always included.
    """

    def __init__(
        self,
        *,
        using: str,
        parts: list[RoutePart],
        clean: bool = False,
        reset: bool = True,
        dry_run: bool = False,
        progress: Callable[[Progress], None] | None = None,
        key_identified: Iterable[str] = (),
        plans: dict[str, ModelPlan] | None = None,
        before_commit: Callable[[], None] | None = None,
    ):
        self.using = using
        # Called last inside the transaction (not on a dry run): an
        # incremental sync writes its new state there.
        self.before_commit = before_commit
        self.parts = parts
        self.plans = plans or {}
        self.models: list[type[models.Model]] = []
        for part in parts:
            for label in part.labels:
                plan = self.plans.get(label)
                if plan is not None and plan.dropped:
                    continue  # not installed here: left out (ignore_unknown)
                model = _model(part.url, label)
                if model not in self.models:
                    self.models.append(model)
                part.result.counts(label)  # counts listed in load order
        self.key_identified = key_identified_labels(key_identified)
        written = [
            (part, _model(part.url, label))
            for part in parts
            for label in part.labels
            if label not in self.key_identified and not self._left_out(label)
        ]
        # An incremental sync deletes the local rows production lacks.
        self.subtype_rows = SubtypeRows(m for part, m in written if part.increment is None)
        self.tree_rows = TreeRows(m for _part, m in written)
        self.clean = clean
        self.reset = reset
        self.dry_run = dry_run
        self.progress = progress
        self.writer = BatchWriter(using, parts[0].result if parts else None)
        self.resolver = KeyResolver(
            using,
            self.key_identified,
            announced=[label for part in parts for label in part.labels],
            flush=self.writer.flush,
            chunk_size=self.writer.batch_size,
        )
        self.writer.resolver = self.resolver
        self.writer.rows_replaced = clean or any(part.increment is not None for part in parts)
        self.writer.on_written = self._batch_written
        for plan in self.plans.values():
            if plan.model is not None and plan.kept_fields:
                self.writer.keep_columns(plan.model, plan.kept_columns)
        cleanable = {
            label
            for part in parts
            for label in (part.labels if part.cleanable is None else part.cleanable)
        }
        self.cleaner = Cleaner(
            using,
            [model for model in self.models if str(model._meta) in cleanable],
            self.key_identified,
            self._owner,
            self._report,
            self.urls,
        )
        self.writer.whole_tables = set(self.cleaner.models)
        self._part: RoutePart | None = None
        # Objects received per (route, model), over every run of the model.
        self._received: dict[tuple[int, str], int] = {}

    def _left_out(self, label: str) -> bool:
        plan = self.plans.get(label)
        return plan is not None and plan.dropped

    @property
    def urls(self) -> str:
        return ", ".join(part.url for part in self.parts)

    def _report(self, stage: str, label: str, count: int, **details) -> None:
        """A :class:`Progress` event: clean events go to the route that owns the
        model, load events to the route being loaded, with the rows it announced."""
        if self.progress is None:
            return
        part = self._part
        if stage == "clean":
            part = self._owner_part(label)
        elif stage == "load" and part is not None and part.increment is None:
            announced = part.result.expected.get(label)
            if announced is not None:
                details.setdefault("total", announced[0])
                details.setdefault("estimated", announced[1])
        if stage != "check" and part is not None:
            details.setdefault("route", part.name)
            details.setdefault("bytes_received", part.bytes_received())
        self.progress(Progress(stage, label, count, **details))

    def _batch_written(self, model: type[models.Model], rows: int, seconds: float) -> None:
        if self.progress is not None and self._part is not None:
            label = str(model._meta)
            received = self._part.result.counts(label).received
            self._report("load", label, received, batch=rows, seconds=seconds)

    def run(self) -> None:
        connection = connections[self.using]
        try:
            with fewer_gc_passes(), transaction.atomic(using=self.using):
                with connection.constraint_checks_disabled():
                    if self.clean:
                        self.cleaner.clean()
                    with self.writer.backend:
                        for part in self.parts:
                            self._load_part(part)
                        self.writer.save_deferred()
                        self.resolver.finish()
                        self._note_fixture_misses()
                        self._note_rows_only_here()
                self.subtype_rows.check(self.using, self.urls)
                self.tree_rows.check(self.using, self.urls)
                checking = time.monotonic()
                self._report("check", "", 0)
                self.cleaner.check_references()
                self.check_constraints()
                if self.reset and not self.dry_run:
                    self.reset_sequences()
                if self.dry_run:
                    transaction.set_rollback(True, using=self.using)
                elif self.before_commit is not None:
                    self.before_commit()
            # The commit is part of the check: PostgreSQL checks deferred keys then.
            self._report("check", "", 0, done=True, seconds=time.monotonic() - checking)
        except SynctoolError as exc:
            exc.rolled_back = True
            raise
        except DatabaseError as exc:
            error = LoadError(
                f"{self.urls}: the database refused the data ({type(exc).__name__}): {exc}"
            )
            error.rolled_back = True
            raise error from exc

    def _load_part(self, part: RoutePart) -> None:
        self.writer.switch_to(part.result, part.on_batch)  # the previous route's rows first
        self._part = part
        self._report("load", "", 0)  # the route's load begins: its request, its first objects
        made_before = len(self.resolver.created_content_types)
        try:
            objects = part.objects()
            if part.increment is not None:
                objects = part.increment.apply(objects, self.cleaner)
            self.load(part, objects)
            made = self.resolver.created_content_types[made_before:]
            if made:
                part.result.notes.append(
                    f"made {len(made)} content type(s) production refers to and this "
                    f"database lacked: {', '.join(made[:10])}{' ...' if len(made) > 10 else ''}"
                )
        except SynctoolError as exc:
            if part.url in str(exc):
                raise
            raise type(exc)(f"{part.url}: {exc}") from exc
        except (base.DeserializationError, FieldDoesNotExist, ValidationError) as exc:
            raise LoadError(f"{part.url}: an object could not be built: {exc}") from exc
        except DatabaseError as exc:
            raise LoadError(
                f"{part.url}: the database refused the data ({type(exc).__name__}): {exc}"
            ) from exc

    def _note_fixture_misses(self) -> None:
        misses = self.resolver.fixture_misses
        if misses:
            self._owner(next(iter(embedded.FIXTURE_FIELDS))).notes.append(
                "references inside django-reversion's versions to rows this database does "
                "not have, kept as natural keys (object ids of generic relations emptied): "
                + ", ".join(f"{label} {count:,}" for label, count in sorted(misses.items()))
            )

    def _note_rows_only_here(self) -> None:
        """Rows of a model of ``SYNCTOOL_NATURAL_KEYS`` (users, groups) are merged
        by natural key and never cleaned, so a user production deleted or renamed
        stays here: say how many local rows production did not send, for the
        models a route sends whole (not incrementally: only changes come then)."""
        configured = set(identity.configured_labels()) - set(identity.ALWAYS_BY_NATURAL_KEY)
        sent: dict[str, tuple[int, SyncResult]] = {}
        for part in self.parts:
            if part.increment is not None:
                continue
            for label in part.labels if part.cleanable is None else part.cleanable:
                if label not in configured or label not in self.key_identified:
                    continue
                received = part.result.counts(label).received
                if received and received > sent.get(label, (0, None))[0]:
                    sent[label] = (received, part.result)
        for label, (received, result) in sent.items():
            model = apps.get_model(label)
            here = model._base_manager.using(self.using).count() - received
            if here > 0:
                result.notes.append(
                    f"{label}: {here:,} row{'s' if here > 1 else ''} here "
                    f"{'are' if here > 1 else 'is'} not among the {received:,} production "
                    "sent (this database's own, or deleted or renamed there): kept, as rows "
                    "matched by natural key always are"
                )

    def rows_to_clean(self) -> dict[str, int]:
        """``{label: rows}`` that ``clean`` would delete now (asked before a large clean)."""
        return self.cleaner.rows_to_clean()

    def _owner(self, label: str) -> SyncResult:
        """The result of the first route that announced ``label``."""
        return self._owner_part(label).result

    def _owner_part(self, label: str) -> RoutePart:
        for part in self.parts:
            if label in part.labels:
                return part
        return self.parts[0]

    # -- load -------------------------------------------------------------

    def _accepted(self, part: RoutePart, objects: Iterable[dict]) -> Iterator[dict]:
        """Refuse unannounced models, count, transform."""
        announced = set(part.labels)
        transform = is_implemented("transform_object")
        seen = None  # the model of the previous object, as sent
        result = part.result
        for obj in objects:
            if obj["model"] != seen:  # checked once per run of objects of a model
                seen = obj["model"]
                label = seen.lower()
                if label not in announced:
                    raise UnexpectedModel(
                        f"{part.url} sent an object of {seen!r}, which is not among "
                        f"the models it announced ({', '.join(part.labels) or 'none'})"
                    )
                plan = self.plans.get(label)
                left_out = plan is not None and plan.dropped
                dropped_fields = plan.dropped_fields if plan is not None else ()
                if not left_out:
                    counts = result.counts(label)
                    fixtures = transform and embedded.fixture_fields(label)
            if left_out:
                result.dropped[label] = result.dropped.get(label, 0) + 1
                continue
            counts.received += 1
            if dropped_fields:
                fields = obj["fields"]
                for name in dropped_fields:
                    if fields.pop(name, _MISSING) is not _MISSING:
                        key = f"{label}.{name}"
                        result.dropped[key] = result.dropped.get(key, 0) + 1
            if transform and False in call_hook("transform_object", obj=obj, side="client"):
                continue
            if fixtures:  # the objects inside a version: scrubbed as the rows are
                embedded.transform_inner(label, obj, _transform_hook, side="client")
            yield obj

    def load(self, part: RoutePart, objects: Iterable[dict]) -> None:
        builders: dict[str, RowBuilder | None] = {}
        writer = self.writer
        written_keys: list = []  # the key lists this model's written keys go to
        current, received, started = None, 0, time.monotonic()
        for obj in self.resolver.resolve(self._accepted(part, objects)):
            label = obj["model"].lower()
            if label != current:
                # Earlier models must be in the database before this one's
                # natural keys are looked up.
                writer.flush_all()
                if current is not None:
                    started = self._finish_model(part, current, received, started)
                else:
                    started = time.monotonic()  # the wait for the server is no model's
                current = label
                received = self._received.get((id(part), label), 0)
                self._report("load", label, received)
                if label not in builders:
                    plan = self.plans.get(label)
                    builders[label] = RowBuilder.for_model(
                        apps.get_model(label), missing=plan.kept_fields if plan else ()
                    )
                model = apps.get_model(label)
                written_keys = [
                    keys
                    for keys in (self.subtype_rows.tracks(model), self.tree_rows.tracks(model))
                    if keys is not None
                ]
            received += 1
            if received % 10000 == 0:
                self._report("load", label, received)
            builder = builders[label]
            if builder is not None and not builder.many_to_many:
                row = builder.row(obj)
                if row is not None and row[builder.pk_index] is not None:
                    writer.add_row(builder, row)
                    for keys in written_keys:
                        keys.append(row[builder.pk_index])
                    continue
            item = builder.build(obj) if builder is not None else None
            if item is None:
                try:
                    item = deserialize_one(obj, self.using)
                except (base.DeserializationError, ValidationError, ValueError, TypeError) as exc:
                    raise LoadError(diagnose(obj, exc)) from exc
            writer.add(item, obj.get(NATURAL_KEY))
            if item.object.pk is not None:
                for keys in written_keys:
                    keys.append(item.object.pk)
        writer.flush_all()
        if current is not None:
            self._finish_model(part, current, received, started)

    def _finish_model(self, part: RoutePart, label: str, received: int, started: float) -> float:
        now = time.monotonic()
        part.result.counts(label).seconds += now - started
        self._received[id(part), label] = received
        self._report("load", label, received, done=True, seconds=now - started)
        return now

    # -- checks -----------------------------------------------------------

    def check_constraints(self) -> None:
        """Check the foreign keys of every table the sync wrote or cleaned; those
        of a model an incremental sync changed in place by key, where the
        database also checks them at the commit (:mod:`synctool.client.refcheck`)."""
        connection = connections[self.using]
        by_key = self._checked_by_key()
        tables = set()
        for model in [*self.models, *self.writer.written_models]:
            if model not in by_key:
                tables.update(table._meta.db_table for table in tables_of(model))
        try:
            # A savepoint: after a refusal the transaction can still be read.
            with transaction.atomic(using=self.using):
                connection.check_constraints(table_names=sorted(tables))
            check_changed_rows(self.using, by_key)
        except DatabaseError as exc:
            # PostgreSQL names the key, not the row: the row is looked for.
            checked = [m for m in [*self.models, *self.writer.written_models] if m not in by_key]
            named = first_broken_reference(self.using, [*by_key, *checked])
            raise LoadError(
                f"{self.urls}: the synced data breaks a constraint: {named or exc}"
            ) from exc

    def _checked_by_key(self) -> dict[type[models.Model], ChangedRows]:
        """The models whose rows an incremental sync changed in place, with the
        keys written and deleted, where they may be checked by key."""
        if not backend_for(connections[self.using]).enforces_keys_at_commit():
            return {}
        changed: dict[type[models.Model], ChangedRows] = {}
        for part in self.parts:
            increment = part.increment
            if increment is None:
                continue
            for label, mode in increment.modes.items():
                model = apps.get_model(label)
                if mode != "content" or not narrowable(model, self.cleaner.emptied_models):
                    continue
                changed[model] = ChangedRows(
                    written=functools.partial(increment.received_keys, label),
                    deleted=functools.partial(increment.deleted_keys, label),
                )
        return changed

    def reset_sequences(self) -> None:
        """Reset the sequences of the models this sync wrote or cleaned (as ``loaddata`` does).

        Their multi-table parents and auto-created many-to-many tables
        included; the sequences of other models are not touched by a sync.
        """
        touched = {*self.writer.written_models, *self.cleaner.cleaned_models}
        for model in list(touched):
            touched.update(model._meta.get_parent_list())
        models_to_reset = [
            model
            for model in sort_models(touched)
            if not model._meta.proxy and router.allow_migrate_model(self.using, model)
        ]
        if models_to_reset:
            call_hook("reset_sequences", connection=connections[self.using], models=models_to_reset)
