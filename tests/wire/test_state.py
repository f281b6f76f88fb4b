"""The incremental state as it travels (synctool.wire.state): written and read
block by block, every key a 64-bit integer can hold, and refused when it is
not such a state."""

import io
import random
import zlib
from array import array

import pytest

from synctool.exceptions import LimitExceeded, MalformedResponse
from synctool.wire.state import (
    BLOCK_ROWS,
    MAGIC,
    MASK_48,
    StateReader,
    StateUpload,
    from_low_48_bits,
    low_48_bits,
)


def flattened(blocks):
    """``(key, digest)`` one by one from ``(keys, digests)`` blocks."""
    return [pair for pks, digests in blocks for pair in zip(pks, digests, strict=True)]


def uploaded(models, rows):
    """The bytes of a state with ``rows`` = {label: [(key, digest), ...]}."""
    upload = StateUpload(models)
    for label, _ in models:
        pairs = rows.get(label, [])
        upload.add(label, array("q", (k for k, _ in pairs)), array("Q", (d for _, d in pairs)))
    file, size = upload.finish()
    data = file.read()
    assert len(data) == size
    return data


def travelled(pairs):
    """What the server reads of ``pairs``: every key, the low 48 bits of digests."""
    return [(key, digest & MASK_48) for key, digest in pairs]


def reader(data: bytes, piece: int = 7, **kwargs) -> StateReader:
    stream = io.BytesIO(data)
    return StateReader(lambda size: stream.read(min(size, piece)), **kwargs)


def test_every_row_of_every_model_comes_back_in_order_through_any_reads():
    big = 2**63 - 1
    rows = {
        "a.first": [(k, (k * 7919) % 2**64 or 1) for k in range(-5, 2 * BLOCK_ROWS + 3)],
        "a.second": [(-(2**63), 1), (-1, 2), (0, 3), (big - 1, 2**64 - 1), (big, 5)],
    }
    models = [("a.first", "f1"), ("a.empty", "f2"), ("a.second", "f3")]
    state = reader(uploaded(models, rows), piece=1000)
    assert state.order == ["a.first", "a.empty", "a.second"]
    assert state.fingerprints == {"a.first": "f1", "a.empty": "f2", "a.second": "f3"}
    assert list(flattened(state.blocks("a.first"))) == travelled(rows["a.first"])
    assert list(flattened(state.blocks("a.empty"))) == []
    assert list(flattened(state.blocks("a.second"))) == travelled(rows["a.second"])


@pytest.mark.parametrize("count", [0, 1, 2, 7, 1000])
def test_digests_travel_as_their_low_48_bits_six_bytes_each(count):
    rng = random.Random(count)
    edges = [0, 1, MASK_48, MASK_48 + 1, 2**64 - 1, 0x0102030405060708]
    values = array("Q", (edges + [rng.getrandbits(64) for _ in range(count)])[:count])
    data = low_48_bits(values)
    assert len(data) == 6 * count
    assert data == b"".join(v.to_bytes(8, "little")[:6] for v in values)
    assert from_low_48_bits(data) == array("Q", (v & MASK_48 for v in values))


def test_a_model_the_server_does_not_compare_is_skipped():
    rows = {"a.one": [(1, 1), (2, 2)], "a.two": [(3, 3)], "a.three": [(4, 4)]}
    models = [("a.one", ""), ("a.two", ""), ("a.three", "")]
    state = reader(uploaded(models, rows))
    assert list(flattened(state.blocks("a.two"))) == [(3, 3)]
    assert list(flattened(state.blocks("a.unknown"))) == []
    assert list(flattened(state.blocks("a.three"))) == [(4, 4)]
    with pytest.raises(MalformedResponse, match="already read"):
        list(state.blocks("a.one"))


def test_dense_keys_and_repeated_digests_travel_small():
    """Consecutive keys and equal digests (PostgreSQL row versions of one bulk
    load) compress to almost nothing."""
    rows = {"a.b": [(k, 12345) for k in range(1, 200_001)]}
    assert len(uploaded([("a.b", "")], rows)) < 20_000


def test_keys_out_of_order_are_refused():
    upload = StateUpload([("a.b", "")])
    upload.add("a.b", array("q", [1, 5, 3]), array("Q", [1, 1, 1]))
    file, _ = upload.finish()
    with pytest.raises(MalformedResponse, match="out of key order"):
        list(reader(file.read()).blocks("a.b"))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not zlib|cut short"),
        (zlib.compress(b"SYNCTOOL-STATE 1\n{}\n"), "does not start"),
        (zlib.compress(MAGIC + b"not json\n"), "header is not valid"),
        (zlib.compress(MAGIC + b'{"models": [{"model": "a.b"}]}\nB'), "cut short"),
        (zlib.compress(MAGIC + b'{"models": [{"model": "a.b"}]}\nX'), "unknown kind"),
        (b"definitely not zlib", "not zlib"),
    ],
)
def test_anything_else_is_refused(data, message):
    with pytest.raises(MalformedResponse, match=message):
        list(reader(data).blocks("a.b"))


def test_a_block_of_another_model_index_is_refused():
    head = b"B" + (9).to_bytes(4, "little") + (1).to_bytes(4, "little")
    data = zlib.compress(MAGIC + b'{"models": [{"model": "a.b"}]}\n' + head + bytes(16))
    with pytest.raises(MalformedResponse, match="out of order"):
        list(reader(data).blocks("a.b"))


def test_a_state_that_inflates_beyond_the_limit_is_refused():
    rows = {"a.b": [(k, 1) for k in range(1, 100_001)]}
    data = uploaded([("a.b", "")], rows)
    with pytest.raises(LimitExceeded, match="inflates beyond 100000 bytes"):
        list(reader(data, piece=65536, max_bytes=100_000).blocks("a.b"))
