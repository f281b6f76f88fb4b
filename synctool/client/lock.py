"""One sync per target database at a time.

Two syncs writing into one database at once would interleave their cleans
and writes (and an incremental one would read a state the other is about to
replace). Every sync that writes, from the command, a task or
:meth:`synctool.client.Client.sync_many`, holds the database's lock from
before its first request until its last write; a second one waits for it up
to ``SYNCTOOL_SYNC_LOCK_TIMEOUT`` seconds (``lock_timeout=``,
``--lock-timeout``), then raises :class:`~synctool.exceptions.SyncLocked`
naming the database and the running sync.

The lock itself is the database's (:meth:`synctool.backends.base.Backend.sync_lock`):
an advisory lock on PostgreSQL, ``GET_LOCK`` on MySQL/MariaDB, a lock file
on SQLite. Only what is common lives here: waiting (by polling, so Ctrl-C
and a task's time limit interrupt it), re-entering in the same thread, and
releasing on every path.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from synctool.backends import backend_for
from synctool.backends.base import DatabaseLock
from synctool.conf import settings
from synctool.exceptions import ConfigurationError, SyncLocked

logger = logging.getLogger("synctool.lock")

# Seconds between two tries while waiting: doubling from the first to the last.
FIRST_PAUSE = 0.05
LONGEST_PAUSE = 1.0


class _FromSettings:
    def __repr__(self) -> str:
        return "SYNCTOOL_SYNC_LOCK_TIMEOUT"


#: The default of every ``lock_timeout`` argument: the setting.
FROM_SETTINGS = _FromSettings()

LockTimeout = float | None | _FromSettings

_held = threading.local()


def resolve_timeout(timeout: LockTimeout) -> float | None:
    """Seconds to wait (None: without end), from the argument or the setting."""
    if isinstance(timeout, _FromSettings):
        timeout = settings.SYNCTOOL_SYNC_LOCK_TIMEOUT
        where = "SYNCTOOL_SYNC_LOCK_TIMEOUT"
    else:
        where = "lock_timeout"
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise ConfigurationError(
            f"{where} must be a number of seconds (0: fail at once) or None (wait as long "
            f"as it takes), not {timeout!r}"
        )
    return float(timeout)


def database_label(using: str) -> str:
    """``'default' (mydb)``: the alias and the database's name."""
    name = connections[using].settings_dict.get("NAME")
    return f"{using!r} ({name})" if name else repr(using)


def busy_message(using: str, timeout: float | None) -> str:
    """Why a sync into ``using`` cannot start: the database and the running sync."""
    from synctool.client.history import describe_running

    running = describe_running(using)
    what = f"another sync into database {database_label(using)} is running"
    if running:
        # A sync whose process was killed holds the lock until the database
        # has rolled its transaction back (seconds, for a large one).
        what += f" ({running}), or its database is still rolling it back"
    if timeout:
        return f"{what}; it did not finish within {timeout:g} s"
    return (
        f"{what}; syncs into one database run one at a time: --lock-timeout SECONDS "
        "(SYNCTOOL_SYNC_LOCK_TIMEOUT) waits for it"
    )


def _wait_for(lock: DatabaseLock, using: str, timeout: float | None) -> None:
    """Take ``lock``, trying again until ``timeout`` seconds have passed."""
    if lock.acquire():
        return
    if timeout == 0:
        raise SyncLocked(busy_message(using, timeout))
    from synctool.client.history import describe_running

    running = describe_running(using)
    logger.info(
        "waiting %s for the sync into database %s to finish%s",
        "as long as it takes" if timeout is None else f"up to {timeout:g} s",
        database_label(using),
        f" ({running})" if running else "",
    )
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = FIRST_PAUSE
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        time.sleep(pause if remaining is None else max(0.0, min(pause, remaining)))
        if lock.acquire():
            return
        if remaining is not None and remaining <= pause:
            raise SyncLocked(busy_message(using, timeout))
        pause = min(pause * 2, LONGEST_PAUSE)


def _release(lock: DatabaseLock, using: str) -> None:
    try:
        lock.release()
    except DatabaseError:
        # A broken connection: ending the session releases a session's lock.
        logger.warning("synctool: the sync lock of %r could not be released: closing", using)
        connections[using].close()


@contextlib.contextmanager
def sync_lock(
    using: str = DEFAULT_DB_ALIAS, timeout: LockTimeout = FROM_SETTINGS
) -> Iterator[bool]:
    """Hold the sync lock of database ``using`` for the block.

    Waits up to ``timeout`` seconds for another holder (0: not at all; None:
    as long as it takes; by default ``SYNCTOOL_SYNC_LOCK_TIMEOUT``), then
    raises :class:`~synctool.exceptions.SyncLocked`. Re-entrant within a
    thread (a sync inside the block takes it again at no cost); yields
    whether this call took it. Released when the block ends, however it ends.

    Use it to keep other syncs out for longer than one sync, e.g. around a
    sync and the clean-up that must follow it::

        with sync_lock("default", timeout=600):
            Client().sync("blogs", clean=True)
            rebuild_search_index()
    """
    seconds = resolve_timeout(timeout)
    depth = getattr(_held, using, 0)
    if depth:
        setattr(_held, using, depth + 1)
        try:
            yield False
        finally:
            setattr(_held, using, depth)
        return
    lock = backend_for(connections[using]).sync_lock()
    _wait_for(lock, using, seconds)
    setattr(_held, using, 1)
    try:
        yield True
    finally:
        setattr(_held, using, 0)
        _release(lock, using)
