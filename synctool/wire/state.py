"""The incremental state: for each model, its rows' keys and digests, packed.

The client keeps it (in its history of syncs) and sends the server the
part the server needs: every key with the server's digest of that row at
the last sync (0 where the row must be sent again: the laptop changed it,
or it is unknown). Keys are stored as differences from the previous key,
so runs of consecutive keys compress to almost nothing.

Format (zlib-compressed)::

    SYNCTOOL-STATE 1\\n
    {"models": [{"model": label, "fingerprint": str, "rows": n, "local": bool}, ...]}\\n
    then per model: n int64 key differences, n uint64 server digests,
    and when "local", n uint64 local digests (little-endian)
"""

from __future__ import annotations

import sys
import zlib
from array import array
from dataclasses import dataclass, field

import orjson

from synctool.exceptions import LimitExceeded, MalformedResponse

MAGIC = b"SYNCTOOL-STATE 1\n"
CONTENT_TYPE = "application/x-synctool-state"


@dataclass
class ModelState:
    """One model's rows as of the last sync: keys in order, and their digests."""

    fingerprint: str = ""
    pks: array = field(default_factory=lambda: array("q"))
    server: array = field(default_factory=lambda: array("Q"))
    local: array | None = None


def _little(values: array) -> bytes:
    if sys.byteorder != "little":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _read(data: memoryview, offset: int, typecode: str, rows: int) -> tuple[array, int]:
    values = array(typecode)
    end = offset + rows * values.itemsize
    if end > len(data):
        raise MalformedResponse("the incremental state is cut short")
    values.frombytes(data[offset:end])
    if sys.byteorder != "little":
        values.byteswap()
    return values, end


def pack(states: dict[str, ModelState], *, with_local: bool = True) -> bytes:
    """``states`` as compressed bytes (the local digests left out unless ``with_local``)."""
    header = []
    parts = [MAGIC, b""]
    for label, state in states.items():
        local = with_local and state.local is not None
        header.append(
            {
                "model": label,
                "fingerprint": state.fingerprint,
                "rows": len(state.pks),
                "local": local,
            }
        )
        deltas = array("q", state.pks)
        for index in range(len(deltas) - 1, 0, -1):
            deltas[index] -= deltas[index - 1]
        parts += [_little(deltas), _little(state.server)]
        if local:
            parts.append(_little(state.local))
    parts[1] = orjson.dumps({"models": header}) + b"\n"
    return zlib.compress(b"".join(parts), 1)


def unpack(blob: bytes, *, max_bytes: int | None = None) -> dict[str, ModelState]:
    """The states packed in ``blob``; MalformedResponse for anything else."""
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(blob, max_bytes or 0)
    except zlib.error as exc:
        raise MalformedResponse(f"the incremental state is not zlib data: {exc}") from None
    if inflater.unconsumed_tail:
        raise LimitExceeded(f"the incremental state inflates beyond {max_bytes} bytes")
    if not data.startswith(MAGIC):
        raise MalformedResponse("the incremental state does not start with SYNCTOOL-STATE 1")
    end = data.index(b"\n", len(MAGIC)) if b"\n" in data[len(MAGIC) :] else -1
    if end < 0:
        raise MalformedResponse("the incremental state has no header")
    try:
        header = orjson.loads(data[len(MAGIC) : end])["models"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise MalformedResponse("the incremental state's header is not valid") from None
    view = memoryview(data)
    offset = end + 1
    states: dict[str, ModelState] = {}
    for entry in header:
        try:
            label, rows = str(entry["model"]), int(entry["rows"])
        except (KeyError, TypeError, ValueError):
            raise MalformedResponse("the incremental state's header is not valid") from None
        pks, offset = _read(view, offset, "q", rows)
        for index in range(1, rows):
            pks[index] += pks[index - 1]
        server, offset = _read(view, offset, "Q", rows)
        local = None
        if entry.get("local"):
            local, offset = _read(view, offset, "Q", rows)
        states[label] = ModelState(str(entry.get("fingerprint", "")), pks, server, local)
    return states
