"""Sort models so that every model comes after the models it points to.

Foreign keys, one-to-one links (including multi-table inheritance parents)
and auto-created many-to-many targets count as dependencies; a model with
a GenericForeignKey comes after every model it need not precede. Self
references are ignored (constraint checks are deferred or disabled during
the load), and a cycle is broken at the model that came first in the input,
so the result is deterministic.
"""

from collections.abc import Iterable

from django.db import models


def model_dependencies(model: type[models.Model]) -> set[type[models.Model]]:
    """The models ``model`` points to (other than itself)."""
    deps = set()
    opts = model._meta
    for field in (*opts.fields, *opts.many_to_many):
        remote = field.remote_field
        if remote is None or remote.model is None or isinstance(remote.model, str):
            continue
        if field.many_to_many and not remote.through._meta.auto_created:
            # An explicit through model carries its own foreign keys.
            continue
        target = remote.model._meta.concrete_model
        if target is not opts.concrete_model:
            deps.add(target)
    return deps


def _points_anywhere(model: type[models.Model]) -> bool:
    from synctool.identity import generic_foreign_keys

    return bool(generic_foreign_keys(model._meta.concrete_model))


def sort_models(model_list: Iterable[type[models.Model]]) -> list[type[models.Model]]:
    """Return the models in load order (dependencies first), stable and deterministic."""
    ordered_input = list(dict.fromkeys(model_list))
    present = set(ordered_input)
    pending = {
        model: {dep for dep in model_dependencies(model) if dep in present and dep is not model}
        for model in ordered_input
    }
    result: list[type[models.Model]] = []
    while pending:
        ready = [model for model in ordered_input if model in pending and not pending[model]]
        # A GenericForeignKey may point at any model: models that have one
        # come as late as their own dependencies allow.
        ready = [model for model in ready if not _points_anywhere(model)] or ready
        if not ready:
            # A cycle: take the first remaining model in input order.
            ready = [next(model for model in ordered_input if model in pending)]
        for model in ready:
            del pending[model]
            result.append(model)
            for deps in pending.values():
                deps.discard(model)
    return result
