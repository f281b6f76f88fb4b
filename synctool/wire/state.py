"""The incremental state a client sends with its request, written and read as a stream.

For each model the client kept a state for, every key it holds with the
digest the server gave that row at the last sync (0: "send it again", the
row changed here or is unknown). Neither side holds it whole: the client
writes it block by block as it compares its rows, the server reads it
block by block as it compares its own rows, in the same key order. The
client sends it as it is made (a chunked body, :class:`StreamedState`) to a
server that says it reads such bodies, so that both passes run at once;
else it writes it into a spooled temporary file first, so that the request
has a length (:class:`StateUpload`).

Format, a zlib stream of::

    SYNCTOOL-STATE 2\\n
    {"models": [{"model": label, "fingerprint": str}, ...]}\\n
    blocks: b"B", model index (uint32), n (uint32), n key differences (uint64)
            and n digests (their low 48 bits: 6 bytes each), little-endian
    b"E"

A model's blocks follow the header's order, its keys ascending. A key
difference is from the model's previous key (the first from 0), modulo
2**64, so that runs of consecutive keys compress to almost nothing and any
64-bit key fits. Digests are random, so they do not compress: 48 of their
64 bits travel (the server compares those), a quarter less, and a change
still goes unseen only once in 2**48 changed rows.
"""

from __future__ import annotations

import operator
import struct
import sys
import tempfile
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate
from typing import IO

import orjson

from synctool.exceptions import LimitExceeded, MalformedResponse

MAGIC = b"SYNCTOOL-STATE 2\n"
CONTENT_TYPE = "application/x-synctool-state"
# On a route's HEAD: "1" when the server reads a chunked request body as it
# arrives (a StreamedState).
STREAMED_STATE_HEADER = "X-Synctool-Streamed-State"
BLOCK_ROWS = 8192
SPOOL_BYTES = 4 * 1024**2  # kept in memory below this size, on disk above
READ_BYTES = 64 * 1024
STREAMED_READ_BYTES = 2048
# The reason a server gives for a model it sends in full because the client
# kept no state for it (a first incremental sync): the client notes these
# models in one line.
NO_EARLIER_STATE = "no earlier state"
MASK_64 = 2**64 - 1
MASK_48 = 2**48 - 1
_BLOCK_HEAD = struct.Struct("<cII")


def key_deltas(pks: array, previous: int) -> array:
    """``pks`` (ascending) as differences from the key before each (modulo 2**64)."""
    if not pks:
        return array("Q")
    if pks[0] >= previous >= 0:
        # The usual case: every difference is positive, computed in C.
        first = array("Q", [pks[0] - previous])
        try:
            first.extend(map(operator.sub, pks[1:], pks[:-1]))
            return first
        except OverflowError:  # not ascending after all: the reader will say so
            pass
    deltas = array("Q")
    for pk in pks:
        deltas.append((pk - previous) & MASK_64)
        previous = pk
    return deltas


def keys_from_deltas(deltas: array, previous: int) -> array:
    """The keys ``deltas`` stand for, after ``previous`` (signed 64-bit)."""
    total = previous + sum(deltas)
    if previous >= 0 and total < 1 << 63:
        # The usual case: no key wraps, the running sum is the key (in C).
        return array("q", accumulate(deltas, initial=previous))[1:]
    pks = array("q")
    for delta in deltas:
        previous = (previous + delta) & MASK_64
        pks.append(previous - (1 << 64) if previous >= 1 << 63 else previous)
    return pks


def little_endian(values: array) -> bytes:
    if sys.byteorder != "little":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def from_little_endian(typecode: str, data: bytes) -> array:
    values = array(typecode)
    values.frombytes(data)
    if sys.byteorder != "little":
        values.byteswap()
    return values


def low_48_bits(values: array) -> bytes:
    """The low 48 bits of each 64-bit value, 6 little-endian bytes each."""
    data = little_endian(values)
    out = bytearray(len(values) * 6)
    # Byte i of every value, moved by extended slices (in C, not per value).
    for byte in range(6):
        out[byte::6] = data[byte::8]
    return bytes(out)


def from_low_48_bits(data: bytes) -> array:
    """The values :func:`low_48_bits` wrote (their high 16 bits 0)."""
    padded = bytearray(len(data) // 6 * 8)
    for byte in range(6):
        padded[byte::8] = data[byte::6]
    return from_little_endian("Q", bytes(padded))


class StateEncoder:
    """The compressed bytes of a state, written model by model, block by block.

    :param models: ``(label, fingerprint)`` of every model a state follows
        for, in the order the server reads them (the route's load order).
    :param flush_blocks: end each block's bytes on a flush point, so the server
        can read a block as soon as it is sent (a streamed state).
    """

    def __init__(self, models: list[tuple[str, str]], *, flush_blocks: bool = False):
        self._compress = zlib.compressobj(1)
        self._flush = flush_blocks
        self._index = {label: index for index, (label, _) in enumerate(models)}
        self._model = -1
        self._last = 0
        self._header = {"models": [{"model": label, "fingerprint": mark} for label, mark in models]}

    def header(self) -> bytes:
        data = self._compress.compress(MAGIC + orjson.dumps(self._header) + b"\n")
        # Sent at once when streamed: the server starts on its rows meanwhile.
        return data + self._compress.flush(zlib.Z_SYNC_FLUSH) if self._flush else data

    def add(self, label: str, pks: array, digests: array) -> bytes:
        """Rows of ``label`` (keys ascending, after those added before)."""
        index = self._index[label]
        if index != self._model:
            if index < self._model:
                raise ValueError(f"{label}: models must be added in the header's order")
            self._model, self._last = index, 0
        out = []
        for start in range(0, len(pks), BLOCK_ROWS):
            keys = pks[start : start + BLOCK_ROWS]
            out.append(self._compress.compress(_BLOCK_HEAD.pack(b"B", index, len(keys))))
            out.append(self._compress.compress(little_endian(key_deltas(keys, self._last))))
            out.append(
                self._compress.compress(
                    low_48_bits(array("Q", digests[start : start + BLOCK_ROWS]))
                )
            )
            self._last = keys[-1]
        if self._flush:
            out.append(self._compress.flush(zlib.Z_SYNC_FLUSH))
        return b"".join(out)

    def end(self) -> bytes:
        return self._compress.compress(b"E") + self._compress.flush()


class StateUpload:
    """The client's state for one request, in a spooled temporary file (so
    that the request has a length). See :class:`StateEncoder`."""

    def __init__(self, models: list[tuple[str, str]]):
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        self._encoder = StateEncoder(models)
        self.file.write(self._encoder.header())

    def add(self, label: str, pks: array, digests: array) -> None:
        """Rows of ``label`` (keys ascending, after those added before)."""
        self.file.write(self._encoder.add(label, pks, digests))

    def finish(self) -> tuple[IO[bytes], int]:
        """The file to send (at its start) and its length."""
        self.file.write(self._encoder.end())
        size = self.file.tell()
        self.file.seek(0)
        return self.file, size


Blocks = Iterable[tuple[str, array, array]]


class StreamedState:
    """The client's state as the bytes of a request body sent as it is made
    (chunked): the server compares each block while the client reads the
    rows of the next, so the two passes over the rows overlap.

    Each iteration makes it again from the start (``blocks()`` is called
    anew): a request that is retried sends the whole state again.
    ``bytes_sent`` counts the last iteration's bytes.
    """

    def __init__(self, models: list[tuple[str, str]], blocks: Callable[[], Blocks]):
        self.models = models
        self.blocks = blocks
        self.bytes_sent = 0

    def __iter__(self) -> Iterator[bytes]:
        self.bytes_sent = 0
        encoder = StateEncoder(self.models, flush_blocks=True)
        yield self._counted(encoder.header())
        for label, pks, digests in self.blocks():
            data = encoder.add(label, pks, digests)
            if data:
                yield self._counted(data)
        yield self._counted(encoder.end())

    def _counted(self, data: bytes) -> bytes:
        self.bytes_sent += len(data)
        return data


class StateReader:
    """The state a client sent, read from ``read`` (e.g. ``request.read``) as needed.

    :param max_bytes: the largest size it may inflate to (LimitExceeded beyond).
    :param read_size: the bytes asked of ``read`` at a time. Small for a
        streamed state: a WSGI server's ``read(n)`` waits for ``n`` bytes, and
        the server should compare each block as soon as it is sent.
    :raises MalformedResponse: for anything that is not such a state.
    """

    def __init__(
        self,
        read: Callable[[int], bytes],
        *,
        max_bytes: int | None = None,
        read_size: int = READ_BYTES,
    ):
        self._read = read
        self._read_size = read_size
        self._inflate = zlib.decompressobj()
        self._buffer = bytearray()
        self._inflated = 0
        self._max = max_bytes
        self._input_done = False
        self._model = -1  # the model whose blocks are being read
        self._pending: tuple[int, int] | None = None  # a block head read ahead
        self._ended = False
        magic = self._take(len(MAGIC))
        if magic != MAGIC:
            raise MalformedResponse("the incremental state does not start with SYNCTOOL-STATE 2")
        header = self._line()
        try:
            entries = orjson.loads(header)["models"]
            self.order = [str(entry["model"]) for entry in entries]
            self.fingerprints = {
                str(entry["model"]): str(entry.get("fingerprint", "")) for entry in entries
            }
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise MalformedResponse("the incremental state's header is not valid") from None
        if len(self.fingerprints) != len(self.order):
            raise MalformedResponse("the incremental state names a model twice")

    # -- bytes ----------------------------------------------------------------

    def _fill(self) -> bool:
        """Inflate some more input into the buffer; False at the end of the input."""
        if self._input_done:
            return False
        data = self._inflate.unconsumed_tail or self._read(self._read_size)
        if not data:
            self._input_done = True
            return False
        try:
            more = self._inflate.decompress(data, READ_BYTES * 16)
        except zlib.error as exc:
            raise MalformedResponse(f"the incremental state is not zlib data: {exc}") from None
        self._inflated += len(more)
        if self._max and self._inflated > self._max:
            raise LimitExceeded(f"the incremental state inflates beyond {self._max} bytes")
        self._buffer += more
        return True

    def _take(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                raise MalformedResponse("the incremental state is cut short")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _line(self) -> bytes:
        while b"\n" not in self._buffer:
            if len(self._buffer) > 1024**2 or not self._fill():
                raise MalformedResponse("the incremental state has no header")
        end = self._buffer.index(b"\n")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    # -- blocks ---------------------------------------------------------------

    def blocks(self, label: str) -> Iterator[tuple[array, array]]:
        """``(keys, digests)`` of ``label``, block by block, keys ascending.

        Models are read in the header's order: asking for one skips what is
        left of the models before it.
        """
        if label not in self.fingerprints:
            return
        wanted = self.order.index(label)
        if wanted < self._model:
            raise MalformedResponse(f"the incremental state of {label} was already read")
        last: int | None = None
        while True:
            head = self._head_or_end()
            if head is None:
                return
            index, rows = head
            if index > wanted:
                self._pending = head
                return
            self._model = index
            deltas = from_little_endian("Q", self._take(8 * rows))
            digests = from_low_48_bits(self._take(6 * rows))
            if index < wanted:
                continue  # a model the server does not compare: skipped
            pks = keys_from_deltas(deltas, 0 if last is None else last)
            if any(b <= a for a, b in zip(pks, pks[1:], strict=False)) or (
                last is not None and pks[0] <= last
            ):
                raise MalformedResponse(f"the incremental state of {label} is out of key order")
            last = pks[-1]
            yield pks, digests

    def read_to_end(self) -> None:
        """Read (and check) what is left of the state, models the server does not
        compare included: a client streaming its state reads no answer before
        it has sent it all."""
        for label in self.order[max(self._model, 0) :]:
            for _ in self.blocks(label):
                pass
        if self._head_or_end() is not None:
            raise MalformedResponse("the incremental state has blocks after its last model")

    def _head_or_end(self) -> tuple[int, int] | None:
        if self._pending is not None:
            head, self._pending = self._pending, None
            return head
        if self._ended:
            return None
        kind = self._take(1)
        if kind == b"E":
            self._ended = True
            return None
        if kind != b"B":
            raise MalformedResponse("the incremental state has a block of unknown kind")
        index, rows = struct.unpack("<II", self._take(8))
        if index >= len(self.order) or index < self._model or not 0 < rows <= BLOCK_ROWS:
            raise MalformedResponse("the incremental state's blocks are out of order")
        return index, rows
