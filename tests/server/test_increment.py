"""The server's comparison of its rows with a block of the client's state."""

import random
from array import array

import pytest

from synctool.client.increment import spliced
from synctool.client.statestore import Rows
from synctool.server.increment import block_differences


def walked(pks, digests, theirs_pks, theirs):
    """The same answer, walking both lists row by row."""
    held = dict(zip(theirs_pks, theirs, strict=True))
    sent = [(pk, digest) for pk, digest in zip(pks, digests, strict=True) if held.get(pk) != digest]
    gone = sorted(set(theirs_pks) - set(pks))
    return sent, gone


@pytest.mark.parametrize("seed", range(30))
def test_block_differences_find_every_changed_new_and_gone_row(seed):
    rng = random.Random(seed)
    theirs_pks = sorted(rng.sample(range(1, 5000), rng.randint(1, 600)))
    theirs = [rng.getrandbits(48) for _ in theirs_pks]
    mine = dict(zip(theirs_pks, theirs, strict=True))
    for pk in rng.sample(theirs_pks, rng.randint(0, len(theirs_pks) // 3)):
        mine[pk] = rng.getrandbits(48)  # changed on the server
    if seed % 2:  # half the blocks keep their keys: only digests differ
        for pk in rng.sample(theirs_pks, rng.randint(0, len(theirs_pks) // 5)):
            del mine[pk]  # deleted on the server
        for pk in rng.sample(range(1, 5000), 50):
            mine.setdefault(pk, rng.getrandbits(48))  # inserted on the server
    for pk in rng.sample(theirs_pks, min(3, len(theirs_pks))):
        if pk in mine:
            theirs[theirs_pks.index(pk)] = 0  # the client asks for it again
    pks = sorted(mine)
    arrays = (
        array("q", pks),
        array("Q", [mine[pk] for pk in pks]),
        array("q", theirs_pks),
        array("Q", theirs),
    )
    assert block_differences(*arrays) == walked(*arrays)


@pytest.mark.parametrize("seed", range(20))
def test_spliced_removes_and_adds_rows_in_key_order(seed):
    rng = random.Random(seed)
    keys = sorted(rng.sample(range(1, 20000), rng.randint(0, 3000)))
    old = Rows(
        array("q", keys), array("Q", [k * 3 for k in keys]), array("Q", [k * 5 for k in keys])
    )
    gone = sorted(rng.sample(keys, len(keys) // 10))
    got = sorted(
        {
            pk: (pk, rng.getrandbits(48), rng.getrandbits(64))
            for pk in rng.sample(range(1, 20000), 200)
        }.values()
    )
    expected = {pk: (pk * 3, pk * 5) for pk in keys if pk not in gone}
    expected.update({pk: (server, local) for pk, server, local in got})
    new = spliced(old, gone, got)
    assert list(new.pks) == sorted(expected)
    assert list(zip(new.server, new.local, strict=True)) == [
        expected[pk] for pk in sorted(expected)
    ]


def test_digest_records_cut_whole_records_and_the_rest_at_the_end(monkeypatch):
    from synctool.server import increment

    monkeypatch.setattr(increment, "RECORD_KEYS", 3)
    pks, digests = list(range(1, 8)), list(range(11, 18))
    whole = list(increment.digest_records("a.b", pks, digests))
    assert [record["fields"]["pks"] for record in whole] == [[1, 2, 3], [4, 5, 6]]
    assert (pks, digests) == ([7], [17])
    rest = list(increment.digest_records("a.b", pks, digests, final=True))
    assert [record["fields"]["pks"] for record in rest] == [[7]]
    assert rest[0]["fields"]["digests"] == increment.packed([17], "Q")
    assert (pks, digests) == ([], [])
