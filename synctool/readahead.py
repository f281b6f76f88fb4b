"""Decode the next objects while the database writes the current ones.

The client alternates between two kinds of work: reading, unzipping and
parsing the body, and waiting for the database to take a batch. A thread
that reads ahead fills those waits (socket reads, zlib and the database
driver release the GIL). Everything that touches the database, hooks
included, stays in the calling thread; the reader only turns bytes into
dicts. A bounded queue keeps memory flat: the reader is at most
``depth * batch_size`` objects ahead.
"""

import queue
import threading
from collections.abc import Iterable, Iterator

_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class ReadAhead:
    """Iterate over ``source`` in a background thread, a few batches ahead.

    Errors raised by ``source`` are raised by this iterator, in order.
    :meth:`stop` ends the thread early (call it when the consumer gives up).
    """

    def __init__(self, source: Iterable, *, batch_size: int = 200, depth: int = 10):
        self._source = source
        self._batch_size = batch_size
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="synctool-read-ahead")
        self._thread.daemon = True  # a reader stuck in a socket read never blocks an exit
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        batch = []
        try:
            for item in self._source:
                batch.append(item)
                if len(batch) >= self._batch_size:
                    if not self._put(batch):
                        return
                    batch = []
            end = _END
        except BaseException as error:  # handed to the consumer, raised there
            end = _Failure(error)
        # The items read before an error are consumed before it is raised.
        if self._put(batch):
            self._put(end)

    def __iter__(self) -> Iterator:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield from item

    def stop(self) -> None:
        """Let the reader end; it exits at its next step (or when its socket closes)."""
        self._stopped.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the reader to end; whether it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()
