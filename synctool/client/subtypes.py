"""Subtype rows a sync would leave behind: one object, two types.

A multi-table child's row (``Book(Product)``; django-polymorphic's types,
Wagtail's page types) extends its parent's row with the same key. When a
sync writes production's ``Product`` 3 over a local one, and production's
product 3 is no book, a local ``Book`` 3 would stay: the laptop's product 3
would then be a book production does not have (``page.specific`` another
type than its content type says; a page in two type tables). Nothing in the
database refuses it, so the loader looks: for every parent model it wrote
whose children the route also sent, the local child rows at the keys it
wrote that production did not send are refused, by name, before the
commit.

Only syncs that are not incremental are looked at: an incremental sync
deletes the local rows production lacks, child rows included. The keys of
the rows written are kept for the models concerned only (parents with
children in the same route, and those children), packed as 8-byte integers
where the key is an integer.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

from django.db import models

from synctool.exceptions import LoadError
from synctool.meta import key_list, subtypes

KEYS_PER_QUERY = 1000


class SubtypeRows:
    """The keys written of each parent model with children in the sync, and of
    those children; :meth:`check` refuses the local child rows left over."""

    def __init__(self, announced: Iterable[type[models.Model]]):
        announced = list(dict.fromkeys(announced))
        present = set(announced)
        self.pairs = [
            (parent, child)
            for parent in announced
            for child, _link in subtypes(parent)
            if child in present
        ]
        self.keys: dict[type[models.Model], array | list] = {}
        for parent, child in self.pairs:
            for model in (parent, child):
                if model not in self.keys:
                    self.keys[model] = key_list(model)

    def tracks(self, model: type[models.Model]):
        """The list to append ``model``'s written keys to, or None."""
        return self.keys.get(model)

    def check(self, using: str, where: str) -> None:
        """Raise LoadError naming the first local child row left over."""
        for parent, child in self.pairs:
            received = set(self.keys[child])
            written = sorted(set(self.keys[parent]) - received)
            for start in range(0, len(written), KEYS_PER_QUERY):
                chunk = written[start : start + KEYS_PER_QUERY]
                stale = (
                    child._base_manager.using(using)
                    .filter(pk__in=chunk)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                    .first()
                )
                if stale is not None:
                    raise LoadError(_message(where, parent, child, stale))


def _message(where: str, parent, child, key) -> str:
    parent_label, child_label = str(parent._meta), str(child._meta)
    return (
        f"{where}: {child_label} pk={key!r} here extends the {parent_label} row this sync "
        f"writes over with production's, and production has no {child_label} row for it "
        f"(its {parent_label} {key!r} is of another type, or of none): kept, this row would "
        f"give the object a type it does not have on production. Nothing was written. "
        f"Delete the local {parent_label} {key!r} (a row of this database's own whose key "
        f"production uses too), or sync into a database without such rows."
    )
