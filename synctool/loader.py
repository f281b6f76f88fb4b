"""The one transaction of a sync: clean, load, check, reset.

Everything happens inside ``transaction.atomic(using=...)``: any error
(bad JSON, a cut connection, an IntegrityError, a hook raising) rolls the
local database back to exactly what it was.
"""

import contextlib
import gc
import time
from collections.abc import Callable, Iterable, Iterator

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.serializers import base
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import Exists, OuterRef

from synctool.conf import settings
from synctool.exceptions import CleanConflict, HookError, LoadError, SynctoolError, UnexpectedModel
from synctool.plugins import get_hooks, is_implemented
from synctool.result import Progress, SyncResult
from synctool.rowload import RowBuilder, deserialize_one
from synctool.upsert import Upserter, can_upsert, replace_many_to_many, save_raw

BatchCallback = Callable[[type[models.Model], list[models.Model]], None]


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


def _check_length(model: type[models.Model], pk, attname: str, value, limit: int) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise LoadError(
            f"{model._meta.label} pk={pk}: {attname} has {len(value)} "
            f"characters, the local field allows {limit}"
        )


def call_hook(name: str, **kwargs):
    """Call hook ``name``; an exception raised by a plugin becomes a HookError."""
    try:
        return getattr(get_hooks(), name)(**kwargs)
    except SynctoolError:
        raise
    except Exception as exc:
        raise HookError(f"the {name} hook raised {type(exc).__name__}: {exc}") from exc


def auto_through_models(model: type[models.Model]) -> list[tuple[models.Field, type]]:
    """The forward many-to-many fields of ``model`` with an auto-created through model."""
    return [
        (field, field.remote_field.through)
        for field in model._meta.local_many_to_many
        if field.remote_field.through._meta.auto_created
    ]


def raw_delete(queryset: models.QuerySet, using: str) -> int:
    """Delete the rows of ``queryset`` with one DELETE, without Django's collector.

    ``QuerySet.delete()`` would cascade into every related model, wiping
    local-only rows and rows about to be synced; the references left behind
    are checked after the load instead.
    """
    return queryset._raw_delete(using)


class BatchWriter:
    """Collects objects per model and writes them in batches.

    An object arrives either as a ``DeserializedObject`` or, for plain
    models without many-to-many fields, as a row of field values
    (:meth:`RowBuilder.row`). Rows are written without building instances
    when nothing needs them (no ``post_save`` hook, no batch callback, a
    fast write path).
    """

    def __init__(self, using: str, result: SyncResult, on_batch: list[BatchCallback]):
        self.using = using
        self.result = result
        self.on_batch = on_batch
        self.instances_needed = bool(on_batch) or is_implemented("post_save")
        self.upserter = Upserter(using)
        self.batch_size = max(int(settings.SYNCTOOL_BATCH_SIZE), 1)
        self.pending: dict[type[models.Model], dict] = {}
        self.row_builders: dict[type[models.Model], RowBuilder] = {}
        self.deferred: list[base.DeserializedObject] = []
        self.written_models: set[type[models.Model]] = set()
        self.length_limits: dict[type[models.Model], list[tuple[int, str, int]]] = {}

    def _queue(self, model: type[models.Model], key, entry) -> None:
        batch = self.pending.get(model)
        if batch is None:
            batch = self.pending[model] = {}
        # Keyed by primary key: a row sent twice is written once, the last wins.
        batch.pop(key, None)
        batch[key] = entry
        if len(batch) >= self.batch_size:
            self.flush(model)

    def add(self, item: base.DeserializedObject) -> None:
        pk = item.object.pk
        self._queue(type(item.object), (None, id(item)) if pk is None else pk, item)

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
        rows = [entry for entry in entries if type(entry) is list]
        if (
            rows
            and len(rows) == len(entries)
            and not self.instances_needed
            and can_upsert(model, self.using)
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
        self.upserter.write_rows(model, rows, builder.new_instance)
        self.written_models.add(model)
        self.result.counts(str(model._meta)).written += len(rows)

    def _write_items(self, model: type[models.Model], items: list[base.DeserializedObject]) -> None:
        instances = [item.object for item in items]
        self.check_lengths(model, instances)
        with_pk = [obj for obj in instances if obj.pk is not None]
        if with_pk and can_upsert(model, self.using):
            self.upserter.write(model, with_pk)
            one_by_one = [obj for obj in instances if obj.pk is None]
        else:
            one_by_one = instances
        for obj in one_by_one:
            save_raw(obj, self.using)
        m2m_rows: dict[str, dict] = {}
        for item in items:
            for name, targets in (item.m2m_data or {}).items():
                m2m_rows.setdefault(name, {})[item.object.pk] = targets
            if item.deferred_fields:
                self.deferred.append(item)
        replace_many_to_many(model, m2m_rows, self.using)
        self.written_models.add(model)
        self.result.counts(str(model._meta)).written += len(instances)
        call_hook("post_save", model=model, instances=instances, using=self.using)
        for callback in self.on_batch:
            callback(model, instances)

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
            save_raw(obj, self.using)
            for name, rows in m2m_rows.items():
                replace_many_to_many(type(obj), {name: rows}, self.using)
        self.deferred.clear()


class SyncLoader:
    """Loads one route's objects into the ``using`` database in one transaction."""

    def __init__(
        self,
        *,
        url: str,
        using: str,
        labels: list[str],
        result: SyncResult,
        clean: bool = False,
        reset: bool = True,
        dry_run: bool = False,
        progress: Callable[[Progress], None] | None = None,
        bytes_received: Callable[[], int] = lambda: 0,
        on_batch: Iterable[BatchCallback] = (),
    ):
        self.url = url
        self.using = using
        self.labels = labels
        self.models = [self._model(label) for label in labels]
        self.result = result
        for label in labels:  # counts listed in load order, even when clean runs first
            result.counts(label)
        self.clean = clean
        self.reset = reset
        self.dry_run = dry_run
        self.progress = progress
        self.bytes_received = bytes_received
        self.writer = BatchWriter(using, result, list(on_batch))
        self.cleaned_models: list[type[models.Model]] = []

    def _model(self, label: str) -> type[models.Model]:
        try:
            return apps.get_model(label)
        except (LookupError, ValueError):
            raise LoadError(
                f"{self.url} serves model {label!r}, which is not installed here"
            ) from None

    def _report(self, stage: str, label: str, count: int) -> None:
        if self.progress is not None:
            self.progress(Progress(stage, label, count, self.bytes_received()))

    def run(self, objects: Iterable[dict]) -> None:
        connection = connections[self.using]
        try:
            with fewer_gc_passes(), transaction.atomic(using=self.using):
                with connection.constraint_checks_disabled():
                    if self.clean:
                        self.clean_models()
                    with self.writer.upserter:
                        self.load(objects)
                self.check_references()
                self.check_constraints()
                if self.reset and not self.dry_run:
                    self.reset_sequences()
                if self.dry_run:
                    transaction.set_rollback(True, using=self.using)
        except SynctoolError:
            raise
        except (base.DeserializationError, FieldDoesNotExist, ValidationError) as exc:
            raise LoadError(f"{self.url}: an object could not be built: {exc}") from exc
        except (DatabaseError, ValueError, TypeError) as exc:
            raise LoadError(
                f"{self.url}: the database refused the data ({type(exc).__name__}): {exc}"
            ) from exc

    def clean_models(self) -> None:
        """Delete the local rows of every announced model, children first."""
        for model in reversed(self.models):
            label = str(model._meta)
            queryset = model._base_manager.using(self.using).all()
            chosen = call_hook("pre_clean", model=model, queryset=queryset, using=self.using)
            if chosen is not None:
                if not isinstance(chosen, models.QuerySet) or chosen.model is not model:
                    raise HookError(f"pre_clean must return a queryset of {label} or None")
                queryset = chosen
            for field, through in auto_through_models(model):
                source = field.m2m_field_name()
                raw_delete(
                    through._base_manager.using(self.using).filter(
                        **{f"{source}__in": queryset.values("pk")}
                    ),
                    self.using,
                )
            started = time.monotonic()
            deleted = raw_delete(queryset, self.using)
            counts = self.result.counts(label)
            counts.deleted += deleted
            counts.seconds += time.monotonic() - started
            self.cleaned_models.append(model)
            self._report("clean", label, deleted)

    def _accepted(self, objects: Iterable[dict]) -> Iterator[dict]:
        """Refuse unannounced models, count, transform; flush when the model changes."""
        announced = set(self.labels)
        transform = is_implemented("transform_object")
        current = None
        received = 0
        started = time.monotonic()
        seen = None  # the model of the previous object, as sent
        for obj in objects:
            if obj["model"] != seen:  # checked once per run of objects of a model
                seen = obj["model"]
                label = seen.lower()
                if label not in announced:
                    raise UnexpectedModel(
                        f"{self.url} sent an object of {seen!r}, which is not among "
                        f"the models it announced ({', '.join(self.labels) or 'none'})"
                    )
                counts = self.result.counts(label)
            counts.received += 1
            if transform and False in call_hook("transform_object", obj=obj, side="client"):
                continue
            if label != current:
                # Earlier models must be in the database before this one's
                # natural keys are looked up.
                self.writer.flush_all()
                if current is not None:
                    self._report("load", current, received)
                    now = time.monotonic()
                    self.result.counts(current).seconds += now - started
                    started = now
                current, received = label, 0
            received += 1
            if received % 10000 == 0:
                self._report("load", label, received)
            yield obj
        self.writer.flush_all()
        if current is not None:
            self._report("load", current, received)
            self.result.counts(current).seconds += time.monotonic() - started

    def load(self, objects: Iterable[dict]) -> None:
        builders: dict[str, RowBuilder | None] = {}
        for obj in self._accepted(objects):
            label = obj["model"]
            if label not in builders:
                model = apps.get_model(label)
                builders[label] = RowBuilder.for_model(model)
            builder = builders[label]
            if builder is not None and not builder.many_to_many:
                row = builder.row(obj)
                if row is not None and row[builder.pk_index] is not None:
                    self.writer.add_row(builder, row)
                    continue
            item = builder.build(obj) if builder is not None else None
            if item is None:
                item = deserialize_one(obj, self.using)
            self.writer.add(item)
        # _accepted() flushed the last batches when the stream ended.
        self.writer.save_deferred()

    def _referring_fields(self):
        """(model, field) pairs outside the route pointing at a cleaned model."""
        cleaned = {model._meta.concrete_model for model in self.cleaned_models}
        carried = set(self.models)
        carried_through = {
            through for model in self.cleaned_models for _, through in auto_through_models(model)
        }
        for model in apps.get_models(include_auto_created=True):
            if model in carried or model in carried_through or model._meta.proxy:
                continue
            if not router.allow_migrate_model(self.using, model):
                continue
            for field in model._meta.local_concrete_fields:
                remote = field.remote_field
                if field.is_relation and remote.model._meta.concrete_model in cleaned:
                    yield model, field

    def check_references(self) -> None:
        """Fail, naming them, when rows outside the route point at cleaned rows that are gone."""
        problems = []
        for model, field in self._referring_fields():
            target = field.remote_field.model
            target_field = field.target_field
            missing = (
                model._base_manager.using(self.using)
                .filter(**{f"{field.attname}__isnull": False})
                .exclude(
                    Exists(
                        target._base_manager.using(self.using).filter(
                            **{target_field.attname: OuterRef(field.attname)}
                        )
                    )
                )
            )
            pks = list(missing.values_list("pk", flat=True)[:6])
            if pks:
                shown = ", ".join(map(str, pks[:5])) + (", ..." if len(pks) > 5 else "")
                problems.append(
                    f"{model._meta.label} (pk {shown}) via {field.name} -> {target._meta.label}"
                )
        if problems:
            raise CleanConflict(
                "clean removed rows that local rows outside the route still point to: "
                + "; ".join(problems)
                + ". Add those models to the route, delete those rows, or keep their "
                "targets with a pre_clean hook. Nothing was changed."
            )

    def check_constraints(self) -> None:
        connection = connections[self.using]
        tables = set()
        for model in [*self.models, *self.writer.written_models]:
            tables.add(model._meta.db_table)
            tables.update(through._meta.db_table for _, through in auto_through_models(model))
        try:
            connection.check_constraints(table_names=sorted(tables))
        except DatabaseError as exc:
            raise LoadError(f"{self.url}: the synced data breaks a constraint: {exc}") from exc

    def reset_sequences(self) -> None:
        """Reset the sequences of every app the synced models belong to (as the seed did)."""
        app_configs = {
            model._meta.app_config for model in [*self.models, *self.writer.written_models]
        }
        models_to_reset = [
            model
            for config in sorted(app_configs, key=lambda config: config.label)
            for model in config.get_models()
            if not model._meta.proxy and router.allow_migrate_model(self.using, model)
        ]
        if models_to_reset:
            call_hook("reset_sequences", connection=connections[self.using], models=models_to_reset)
