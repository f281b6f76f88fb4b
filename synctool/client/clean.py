"""``clean``: the local rows of a sync's models, deleted before the load, and
the checks afterwards that no local row outside the sync was left pointing
at a row that is gone.

Rows are deleted with one ``DELETE`` per table, without Django's cascading
collector (which would delete local-only rows and rows about to be synced);
the references left behind are checked after the load instead, as
``loaddata`` checks its constraints. Models identified by natural key are
never cleaned: their rows are merged by natural key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from django.apps import apps
from django.db import models, router
from django.db.models import Exists, OuterRef

from synctool.client.batches import call_hook
from synctool.exceptions import CleanConflict, HookError
from synctool.identity import chunks, model_label
from synctool.meta import auto_through_models, sort_models
from synctool.result import SyncResult


def raw_delete(queryset: models.QuerySet, using: str) -> int:
    """Delete the rows of ``queryset`` with one DELETE, without Django's collector.

    ``QuerySet.delete()`` would cascade into every related model, wiping
    local-only rows and rows about to be synced; the references left behind
    are checked after the load instead.
    """
    return queryset._raw_delete(using)


class Cleaner:
    """Cleans the ``models`` of one sync on ``using`` and checks what it left behind.

    :param owner: the result that counts the deletions of a label.
    :param report: called with ``("clean", label, count)`` when a model's
        clean starts (count 0) and with ``done=True, seconds=...`` when it ends.
    """

    def __init__(
        self,
        using: str,
        models: list[type[models.Model]],
        key_identified: frozenset[str],
        owner: Callable[[str], SyncResult],
        report: Callable[..., None],
        where: str,
    ):
        self.using = using
        self.models = models
        self.key_identified = key_identified
        self.owner = owner
        self.report = report
        self.where = where
        self.cleaned_models: list[type[models.Model]] = []
        self.cleaned_children: dict[type[models.Model], list] = {}
        # The models emptied whole (not only rows deleted by an incremental sync).
        self.emptied_models: set[type[models.Model]] = set()

    def note_deleted(self, model: type[models.Model], pks: list) -> None:
        """Rows of ``model`` an incremental sync deleted (gone from the server, or
        to be loaded again): checked as cleaned rows are, for local rows
        outside the sync still pointing at them and for parent rows left
        without their child."""
        if model not in self.cleaned_models:
            self.cleaned_models.append(model)
        if any(parent not in self.models for parent in model._meta.get_parent_list()):
            self.cleaned_children.setdefault(model, []).extend(pks)

    def clean(self, only: list[type[models.Model]] | None = None) -> None:
        """Delete the local rows of every announced model (or of ``only``), children first.

        Key-identified models (content types, permissions, users where so
        configured) are never cleaned: their rows are merged by natural key.
        """
        for model, queryset in self._clean_querysets(only):
            label = str(model._meta)
            started = time.monotonic()
            self.report("clean", label, 0)
            if any(parent not in self.models for parent in model._meta.get_parent_list()):
                # A multi-table child whose parent the sync does not carry: its
                # parent rows stay, and must not be left without their child.
                self.cleaned_children[model] = list(queryset.values_list("pk", flat=True))
            for field, through in auto_through_models(model):
                source = field.m2m_field_name()
                raw_delete(
                    through._base_manager.using(self.using).filter(
                        **{f"{source}__in": queryset.values("pk")}
                    ),
                    self.using,
                )
            deleted = raw_delete(queryset, self.using)
            self.emptied_models.add(model)
            seconds = time.monotonic() - started
            counts = self.owner(label).counts(label)
            counts.deleted += deleted
            counts.seconds += seconds
            self.cleaned_models.append(model)
            self.report("clean", label, deleted, done=True, seconds=seconds)

    def _clean_querysets(
        self, only: list[type[models.Model]] | None = None
    ) -> Iterator[tuple[type[models.Model], models.QuerySet]]:
        """Each model ``clean`` deletes from, children first, with the rows it deletes."""
        chosen_models = self.models if only is None else [m for m in only if m in self.models]
        for model in reversed(sort_models(chosen_models)):
            if model_label(model) in self.key_identified:
                continue
            queryset = model._base_manager.using(self.using).all()
            chosen = call_hook("pre_clean", model=model, queryset=queryset, using=self.using)
            if chosen is not None:
                if not isinstance(chosen, models.QuerySet) or chosen.model is not model:
                    raise HookError(f"pre_clean must return a queryset of {model._meta} or None")
                queryset = chosen
            yield model, queryset

    def rows_to_clean(self) -> dict[str, int]:
        """``{label: rows}`` that ``clean`` would delete now (asked before a large clean)."""
        return {str(model._meta): qs.count() for model, qs in self._clean_querysets()}

    def _referring_fields(self):
        """(model, field) pairs outside the sync pointing at a cleaned model."""
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
        """Fail, naming every one, when rows outside the sync point at cleaned rows now gone."""
        problems = []
        for model, field in self._referring_fields():
            target = field.remote_field.model
            target_field = field.target_field
            # order_by(): a default ordering across a relation (Permission's,
            # by content type) would join away exactly the rows looked for.
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
                .order_by()
            )
            pks = list(missing.values_list("pk", flat=True)[:6])
            if pks:
                shown = ", ".join(map(str, pks[:5])) + (", ..." if len(pks) > 5 else "")
                problems.append(
                    f"{model._meta.label} (pk {shown}) via {field.name} -> {target._meta.label}"
                )
        problems.extend(self._orphaned_parents())
        if problems:
            raise CleanConflict(
                f"{self.where}: the sync removed rows that local rows outside it still "
                "point to: "
                + "; ".join(problems)
                + ". Add those models to the sync, delete those rows, or keep their "
                "targets with a pre_clean hook. Nothing was changed."
            )

    def _orphaned_parents(self) -> list[str]:
        """Parent rows (outside the sync) whose multi-table child clean removed for good."""
        problems = []
        for child, pks in self.cleaned_children.items():
            for parent in child._meta.get_parent_list():
                if parent in self.models:
                    continue
                orphans = []
                for chunk in chunks(pks):
                    still = child._base_manager.using(self.using).filter(pk__in=chunk)
                    orphans += (
                        parent._base_manager.using(self.using)
                        .filter(pk__in=chunk)
                        .exclude(pk__in=still.values("pk"))
                        .order_by()
                        .values_list("pk", flat=True)[: 6 - len(orphans)]
                    )
                    if len(orphans) >= 6:
                        break
                if orphans:
                    shown = ", ".join(map(str, orphans[:5])) + (", ..." if len(orphans) > 5 else "")
                    problems.append(
                        f"{parent._meta.label} (pk {shown}) would stay without its "
                        f"{child._meta.label} row"
                    )
        return problems
