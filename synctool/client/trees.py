"""Nested-set trees a sync would leave inconsistent: django-mptt's.

A django-mptt model stores its tree twice: each row's parent, and the
numbers that make its queries fast (``tree_id``, ``lft``, ``rght``: a row's
descendants are the rows of its tree numbered between its ``lft`` and
``rght``). The numbers are production's, as every value is. On a laptop
with trees of its own, production's tree 2 can land in the laptop's tree
2; after a subset of a tree production has since rearranged, the rows an
earlier sync brought keep their old numbers. Either way ``get_descendants``
then answers with rows that are not descendants, and nothing in the
database refuses it.

So the loader looks, before the commit: for every tree a row it wrote is in,
the rows of that tree here, in ``lft`` order, must nest as their parents
say (each row inside its parent's numbers and no other's, one root). The
first row that does not is refused, by name. Gaps in the numbers are
allowed: a subset brings a row's ancestors, not its siblings.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from synctool.exceptions import LoadError
from synctool.meta import key_list

KEYS_PER_QUERY = 1000


def tree_model(model: type[models.Model]) -> type[models.Model] | None:
    """The model whose table holds ``model``'s django-mptt tree numbers (itself,
    or the multi-table parent declaring them), or None when it has none."""
    meta = getattr(model, "_mptt_meta", None)
    if meta is None:
        return None
    try:
        return model._meta.get_field(meta.tree_id_attr).model._meta.concrete_model
    except FieldDoesNotExist:  # not a tree synctool can check
        return None


class TreeRows:
    """The keys written of each django-mptt model in the sync; :meth:`check`
    refuses a tree left inconsistent."""

    def __init__(self, announced: Iterable[type[models.Model]]):
        self.keys: dict[type[models.Model], array | list] = {}
        for model in announced:
            tree = tree_model(model)
            if tree is not None and model not in self.keys:
                self.keys[model] = key_list(model)

    def tracks(self, model: type[models.Model]):
        """The list to append ``model``'s written keys to, or None."""
        return self.keys.get(model)

    def check(self, using: str, where: str) -> None:
        """Raise LoadError naming the first row of a tree the sync wrote into
        whose numbers do not nest as its parents say."""
        touched: dict[type[models.Model], set] = {}
        for model, keys in self.keys.items():
            if not keys:
                continue
            tree = tree_model(model)
            tree_id = tree._mptt_meta.tree_id_attr
            written = sorted(set(keys))
            found = touched.setdefault(tree, set())
            for start in range(0, len(written), KEYS_PER_QUERY):
                chunk = written[start : start + KEYS_PER_QUERY]
                found.update(
                    tree._base_manager.using(using)
                    .filter(pk__in=chunk)
                    .order_by()
                    .values_list(tree_id, flat=True)
                    .distinct()
                )
        for tree, tree_ids in touched.items():
            _check_trees(tree, sorted(tree_ids), using, where)


def _check_trees(tree: type[models.Model], tree_ids: list, using: str, where: str) -> None:
    meta = tree._mptt_meta
    parent = tree._meta.get_field(meta.parent_attr).attname
    fields = ("pk", parent, meta.tree_id_attr, meta.left_attr, meta.right_attr)
    for start in range(0, len(tree_ids), KEYS_PER_QUERY):
        rows = (
            tree._base_manager.using(using)
            .filter(**{f"{meta.tree_id_attr}__in": tree_ids[start : start + KEYS_PER_QUERY]})
            .order_by(meta.tree_id_attr, meta.left_attr, "pk")
            .values_list(*fields)
        )
        problem = _first_misplaced(rows.iterator(chunk_size=2000))
        if problem is not None:
            raise LoadError(_message(where, tree, meta, *problem))


def _first_misplaced(rows) -> tuple | None:
    """``(key, tree id, what is wrong)`` of the first row, in ``lft`` order
    per tree, whose numbers do not nest as its parent says, or None."""
    current_tree = object()
    stack: list[tuple] = []  # (key, rght) of the rows enclosing the next one
    root = None
    for key, parent, tree_id, left, right in rows:
        if tree_id != current_tree:
            current_tree, stack, root = tree_id, [], None
        if left is None or right is None or right <= left:
            return key, tree_id, f"its numbers ({left}, {right}) enclose nothing"
        while stack and stack[-1][1] < left:
            stack.pop()
        if stack:
            enclosing, enclosing_right = stack[-1]
            if right >= enclosing_right:
                return key, tree_id, f"its numbers ({left}, {right}) overlap row {enclosing!r}'s"
            if parent != enclosing:
                return (
                    key,
                    tree_id,
                    (
                        f"its numbers ({left}, {right}) put it under row {enclosing!r}, "
                        f"its parent is {parent!r}"
                    ),
                )
        elif parent is not None:
            return (
                key,
                tree_id,
                f"its numbers ({left}, {right}) make it a root, its parent is {parent!r}",
            )
        elif root is not None:
            return key, tree_id, f"it is a second root, beside row {root!r}"
        else:
            root = key
        stack.append((key, right))
    return None


def _message(where: str, tree, meta, key, tree_id, wrong: str) -> str:
    label = str(tree._meta)
    return (
        f"{where}: after this sync, {label} pk={key!r} in tree {meta.tree_id_attr}={tree_id!r} "
        f"would not be where its numbers say: {wrong}. django-mptt's tree numbers are "
        f"production's; rows of this database's own in a tree production numbers the same, "
        f"or rows an earlier sync brought that production has since moved, would answer "
        f"get_descendants() wrongly. Nothing was written. Pull into a database without "
        f"{label} rows of its own, delete them here (a subset brings what it needs again), "
        f"or sync the whole table with --clean."
    )
