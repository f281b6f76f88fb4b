"""When a failed sync may be tried again: only when nothing was committed.

A sync's rows are committed in one transaction, after which only media
files are fetched (their failures are counted in the result, never raised).
So an error that ends a sync means, unless it says otherwise
(:attr:`synctool.exceptions.SynctoolError.committed`), that the database is
exactly as before. Of those, a later attempt can succeed only where the
cause is passing:

- :class:`~synctool.exceptions.SyncLocked`: another sync into the database
  was running (nothing was asked of the server yet);
- :class:`~synctool.exceptions.ServerUnreachable`: no connection, after the
  client's own quick retries;
- :class:`~synctool.exceptions.ServerUnavailable`: 502, 503 (the server's
  export cap, a maintenance page) or 504.

Never retried: a refusal of the schema gate, a configuration error, a
refused token, a bad body, a load error (each needs a person), a time limit
(the next attempt would meet it too), anything after the commit.
"""

from __future__ import annotations

from synctool.exceptions import ServerUnavailable, ServerUnreachable, SyncLocked

RETRY_ON: tuple[type[Exception], ...] = (SyncLocked, ServerUnreachable, ServerUnavailable)


def retry_is_safe(exc: BaseException) -> bool:
    """Whether the sync that raised ``exc`` may be tried again."""
    return isinstance(exc, RETRY_ON) and not getattr(exc, "committed", False)
