"""The life of one export's response: a place among the exports under way, the
audit line and the ``export_finished`` hook when it ends, and under ASGI an
asynchronous iterator, so that the response streams.

A process serves at most ``SYNCTOOL_MAX_EXPORTS`` exports at once; the place
is taken before the response is returned and given back when its stream
ends, is cut or is closed unread (every way a WSGI or ASGI server ends it).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async

from synctool.conf import settings
from synctool.plugins import get_hooks

audit = logging.getLogger("synctool.audit")
logger = logging.getLogger("synctool")

_lock = threading.Lock()
_active = 0


def take_place() -> bool:
    """Take a place among the exports of this process; False when they are all taken."""
    global _active
    limit = settings.SYNCTOOL_MAX_EXPORTS
    with _lock:
        if limit is not None and _active >= int(limit):
            return False
        _active += 1
        return True


def give_place() -> None:
    global _active
    with _lock:
        _active = max(_active - 1, 0)


class Counted:
    """Counts the objects that go through it (the audit line's rows)."""

    def __init__(self, objects):
        self.objects = objects
        self.rows = 0

    def __iter__(self):
        for obj in self.objects:
            self.rows += 1
            yield obj

    def close(self) -> None:
        """Close the source (the route's snapshot), here: the generators made
        of it do not close their sources when they are closed, and a source
        left to the garbage collector would end its snapshot in whatever
        thread collects it, on that thread's connection (seen under ASGI: a
        deadlock in another request's query)."""
        close = getattr(self.objects, "close", None)
        if close is not None:
            close()


class Finished:
    """``chunks``, and when they end, are cut or are closed (even unread): the
    place given back, one audit line, the ``export_finished`` hook; once.

    An object rather than a generator: a generator closed before its first
    chunk never runs its ``finally``, and Django calls ``close()`` on it.
    """

    def __init__(self, chunks: Iterator[bytes], counted: Counted, *, path, request, token_id):
        self.chunks = iter(chunks)
        self.counted = counted
        self.path = path
        self.request = request
        self.token_id = token_id
        self.started = time.monotonic()
        self.sent = 0
        self.outcome: str | None = None
        # A response dropped without being closed (a test client that never
        # reads it) still gives its place back, when it is collected.
        self._give_place = weakref.finalize(self, give_place)

    def __iter__(self) -> Finished:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self.chunks)
        except StopIteration:
            self._end("complete")
            raise
        except Exception:
            logger.exception("synctool: streaming route %r failed; the response is cut", self.path)
            self._end("failed")
            raise
        self.sent += len(chunk)
        return chunk

    def close(self) -> None:
        # The client went away first (or the server closed the response).
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()
        self.counted.close()
        self._end("closed")

    def _end(self, outcome: str) -> None:
        if self.outcome is not None:
            return
        self.outcome = outcome
        self._give_place()
        seconds = time.monotonic() - self.started
        audit.info(
            "export route=%r token=%s rows=%d bytes=%d seconds=%.2f outcome=%s",
            self.path, self.token_id, self.counted.rows, self.sent, seconds, outcome,
        )  # fmt: skip
        try:
            get_hooks().export_finished(
                path=self.path,
                request=self.request,
                token_id=self.token_id,
                rows=self.counted.rows,
                bytes_sent=self.sent,
                seconds=seconds,
                outcome=outcome,
            )
        except Exception:
            logger.exception("synctool: the export_finished hook raised")


async def asynchronous(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks of a synchronous stream, for an ASGI server, one at a time.

    Django consumes a synchronous iterator whole before an ASGI response
    starts (the whole route in memory). Each chunk is made in the one thread
    Django runs synchronous code in (``thread_sensitive``), where the
    route's database connection and snapshot live.
    """
    step = sync_to_async(_next, thread_sensitive=True)
    try:
        while (chunk := await step(chunks)) is not None:
            yield chunk
    finally:
        await sync_to_async(_close, thread_sensitive=True)(chunks)


def _next(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


def _close(chunks) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
