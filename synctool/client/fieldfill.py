"""The value a new row takes in a field production does not send.

A laptop one deploy ahead has fields production's code does not have yet.
Rows updated in place keep their local values there (the writer leaves those
columns alone); rows new here (and rows ``--clean`` or ``--incremental``
replace) need a value, the one Django would give a new object: the field's
``default``, the time for ``auto_now`` and ``auto_now_add``, a constant
``db_default``, null, or the empty string. A field with none of them (a
``NOT NULL`` integer or foreign key without a default, a ``db_default``
that is an SQL expression the writer cannot evaluate) cannot be written:
the schema gate refuses the sync before any row is read rather than let
the database stop it half way.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from django.db import models
from django.db.models.expressions import Value


def missing_value(field: models.Field) -> Callable[[], object] | None:
    """What makes the value of ``field`` in a new row when production does
    not send it; ``None`` when nothing does (see the module's docstring)."""
    if field.has_default():
        return field.get_default
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        # DateField.pre_save: today, now or the time, as Django's save() would.
        return lambda: field.pre_save(SimpleNamespace(), add=True)
    db_default = getattr(field, "db_default", models.NOT_PROVIDED)
    if db_default is not models.NOT_PROVIDED:
        if isinstance(db_default, Value):
            return lambda: db_default.value
        if not hasattr(db_default, "resolve_expression"):
            return lambda: db_default
        return None
    if field.null:
        return lambda: None
    if field.empty_strings_allowed:
        return str
    return None
