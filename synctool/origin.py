"""What started a sync (the command, Python code, a Celery task, a Django task),
for the history of syncs.

Like the host name, it is where the sync runs rather than how: it is set
around the call by whoever starts one (``with started_by("celery",
task_id):``), and read when the sync is recorded, without threading it
through every signature. A sync nobody labelled came from Python code.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

COMMAND = "command"
PYTHON = "python"
CELERY = "celery"
DJANGO_TASK = "django-task"
ORIGINS = (COMMAND, PYTHON, CELERY, DJANGO_TASK)


@dataclass(frozen=True)
class Origin:
    """``kind`` is one of :data:`ORIGINS`; ``task_id`` the task's id, if a task."""

    kind: str = PYTHON
    task_id: str = ""


_current: contextvars.ContextVar[Origin | None] = contextvars.ContextVar(
    "synctool_origin", default=None
)


def current_origin() -> Origin:
    """The origin of syncs started here and now."""
    return _current.get() or Origin()


@contextlib.contextmanager
def started_by(kind: str, task_id: str | None = "") -> Iterator[Origin]:
    """Label the syncs started inside the block as started by ``kind``."""
    if kind not in ORIGINS:
        raise ValueError(f"unknown origin {kind!r}: one of {', '.join(ORIGINS)}")
    origin = Origin(kind, str(task_id or ""))
    token = _current.set(origin)
    try:
        yield origin
    finally:
        _current.reset(token)
