"""The incremental state in the client's database, in chunks that are read and
written one at a time, so that memory does not grow with the rows.

A state is, per model, every row the last incremental sync left with two
64-bit digests: the server's digest of that row (what the server compares
with next time) and this database's (what tells whether the row changed
here since). :class:`~synctool.models.SyncStateChunk` holds up to
:data:`CHUNK_ROWS` of them each, in key order; the run that wrote them
(:class:`~synctool.models.SyncRun`) holds each model's fingerprint.

A chunk's data is zlib of ``n`` (uint32), then ``n`` key differences,
``n`` server digests and ``n`` local digests (uint64, little-endian; see
:mod:`synctool.wire.state` for the key differences).
"""

from __future__ import annotations

import struct
import tempfile
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from synctool.client.routes import route_spellings
from synctool.exceptions import MalformedResponse
from synctool.wire.state import from_little_endian, key_deltas, keys_from_deltas, little_endian

CHUNK_ROWS = 8192
_COUNT = struct.Struct("<I")


@dataclass
class Rows:
    """Rows of a state, in key order: keys, server digests, local digests."""

    pks: array
    server: array
    local: array

    def __len__(self) -> int:
        return len(self.pks)

    @classmethod
    def empty(cls) -> Rows:
        return cls(array("q"), array("Q"), array("Q"))

    def extend(self, other: Rows, start: int = 0, end: int | None = None) -> None:
        self.pks.extend(other.pks[start:end])
        self.server.extend(other.server[start:end])
        self.local.extend(other.local[start:end])


def encode_chunk(rows: Rows) -> bytes:
    return zlib.compress(
        _COUNT.pack(len(rows))
        + little_endian(key_deltas(rows.pks, 0))
        + little_endian(rows.server)
        + little_endian(rows.local),
        1,
    )


def decode_chunk(data: bytes) -> Rows:
    try:
        raw = zlib.decompress(bytes(data))
    except zlib.error as exc:
        raise MalformedResponse(f"a stored incremental state is damaged: {exc}") from None
    (count,) = _COUNT.unpack_from(raw)
    size = 8 * count
    if len(raw) != _COUNT.size + 3 * size:
        raise MalformedResponse("a stored incremental state is damaged: wrong length")
    start = _COUNT.size
    return Rows(
        keys_from_deltas(from_little_endian("Q", raw[start : start + size]), 0),
        from_little_endian("Q", raw[start + size : start + 2 * size]),
        from_little_endian("Q", raw[start + 2 * size :]),
    )


@dataclass
class StoredChunk:
    """One stored chunk, its rows decoded on demand."""

    id: int
    first_key: int
    using: str

    def rows(self) -> Rows:
        from synctool.models import SyncStateChunk

        data = (
            SyncStateChunk.objects.using(self.using).values_list("data", flat=True).get(pk=self.id)
        )
        return decode_chunk(data)


class StoredState:
    """The state the newest incremental sync of a route into a database kept.

    :param run_id: the :class:`~synctool.models.SyncRun` holding it.
    :param fingerprints: ``{label: the server's fingerprint}`` of its models.
    :param local_marks: ``{label: what this database's digests stood for}``
        (:func:`synctool.rowhash.local_mark`); a model without one (a state
        kept by an older synctool) is synced in full.
    """

    def __init__(
        self,
        run_id: int,
        fingerprints: dict[str, str],
        using: str,
        local_marks: dict[str, str] | None = None,
    ):
        self.run_id = run_id
        self.fingerprints = fingerprints
        self.local_marks = local_marks or {}
        self.using = using

    def __contains__(self, label: str) -> bool:
        return label in self.fingerprints

    def chunks(self, label: str) -> list[StoredChunk]:
        """The chunks of ``label``, in key order (their rows not read yet)."""
        from synctool.models import SyncStateChunk

        found = (
            SyncStateChunk.objects.using(self.using)
            .filter(run_id=self.run_id, model=label)
            .order_by("first_key")
            .values_list("pk", "first_key")
        )
        return [StoredChunk(pk, first_key, self.using) for pk, first_key in found]

    def rows(self, label: str) -> Iterator[Rows]:
        """The rows of ``label``, chunk by chunk."""
        for chunk in self.chunks(label):
            yield chunk.rows()


def stored_state(route: str, endpoint: str, using: str) -> StoredState | None:
    """The state kept for ``route`` from ``endpoint`` in ``using``, if any.

    The newest run with a state: a state is written in the sync's own
    transaction, so one that exists matches the data (even if the process
    stopped before the run was marked as finished).
    """
    from synctool.models import SyncRun

    run = (
        SyncRun.objects.using(using)
        .filter(route__in=route_spellings(route), endpoint=endpoint, database=using)
        .filter(state__isnull=False)
        .order_by("-started", "-id")
        .only("state")
        .first()
    )
    if run is None or not isinstance(run.state, dict):
        return None
    fingerprints, local_marks = {}, {}
    for label, marks in run.state.items():
        if isinstance(marks, dict):
            fingerprints[str(label)] = str(marks.get("server"))
            if marks.get("local"):
                local_marks[str(label)] = str(marks["local"])
        else:  # a state kept before local marks: the server's fingerprint alone
            fingerprints[str(label)] = str(marks)
    return StoredState(run.pk, fingerprints, using, local_marks)


def state_marks(fingerprints: dict[str, str], local_marks: dict[str, str]) -> dict[str, dict]:
    """A :class:`~synctool.models.SyncRun`'s ``state``: per model, the server's
    fingerprint and this database's mark."""
    return {
        label: {"server": mark, "local": local_marks[label]} for label, mark in fingerprints.items()
    }


class ChunkWriter:
    """Writes one model's new state for run ``run_id``, in key order, chunk by chunk."""

    def __init__(self, run_id: int, label: str, using: str):
        self.run_id = run_id
        self.label = label
        self.using = using
        self.pending = Rows.empty()
        self.last: int | None = None

    def add(self, rows: Rows) -> None:
        if not len(rows):
            return
        if self.last is not None and rows.pks[0] <= self.last:
            raise MalformedResponse(f"the incremental state of {self.label} is out of key order")
        self.last = rows.pks[-1]
        self.pending.extend(rows)
        # Chunks of CHUNK_ROWS to 2 * CHUNK_ROWS - 1 rows; a smaller one only
        # where a chunk taken over as it is (keep) or the end follows.
        while len(self.pending) >= 2 * CHUNK_ROWS:
            self._write(0, CHUNK_ROWS)

    def keep(self, chunk: StoredChunk) -> None:
        """Take over ``chunk`` of the previous state as it is (its rows unchanged,
        its keys between those written before and after it)."""
        from synctool.models import SyncStateChunk

        self.flush()
        SyncStateChunk.objects.using(self.using).filter(pk=chunk.id).update(run_id=self.run_id)
        self.last = None  # the chunk's last key is not read: its range is the caller's

    def _write(self, start: int, end: int) -> None:
        from synctool.models import SyncStateChunk

        part = Rows(
            self.pending.pks[start:end],
            self.pending.server[start:end],
            self.pending.local[start:end],
        )
        SyncStateChunk.objects.using(self.using).create(
            run_id=self.run_id,
            model=self.label,
            first_key=part.pks[0],
            rows=len(part),
            data=encode_chunk(part),
        )
        rest = Rows.empty()
        rest.extend(self.pending, end)
        self.pending = rest

    def flush(self) -> None:
        if len(self.pending):
            self._write(0, len(self.pending))


class KeyDigestSpool:
    """``(key, digest)`` pairs received in key order, kept on disk beyond a few MB."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=4 * 1024**2)  # noqa: SIM115
        self.count = 0
        self.last: int | None = None

    def append(self, pks: Iterable[int], digests: array) -> None:
        keys = array("q", pks)
        if not keys:
            return
        if self.last is not None and keys[0] <= self.last:
            raise MalformedResponse("incremental records out of key order")
        self.last = keys[-1]
        self.file.write(_COUNT.pack(len(keys)) + little_endian(keys) + little_endian(digests))
        self.count += len(keys)

    def blocks(self) -> Iterator[tuple[array, array]]:
        self.file.seek(0)
        while head := self.file.read(_COUNT.size):
            (count,) = _COUNT.unpack(head)
            keys = from_little_endian("q", self.file.read(8 * count))
            digests = from_little_endian("Q", self.file.read(8 * count))
            yield keys, digests
        self.file.seek(0, 2)

    def keys(self) -> Iterator[int]:
        for keys, _ in self.blocks():
            yield from keys

    def close(self) -> None:
        self.file.close()
