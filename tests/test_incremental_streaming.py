"""How the incremental state travels (real HTTP): sent as it is made (a
chunked body) to a server that reads such bodies, so that the two passes over
the rows overlap; with a length to a server that cannot (Django's
runserver) or behind a proxy that asks for one (411); and the server answers
nothing before it has read the whole state, so that neither side can wait on
the other with full socket buffers."""

import random
from array import array

import pytest
import requests

from synctool.models import SyncRun
from synctool.wire.state import STREAMED_STATE_HEADER, StateReader, StreamedState
from tests.conftest import TOKEN, e2e, server_env, start_runserver, start_server, stop_server
from tests.test_incremental import assert_as_clean_sync_gives, change_server, seed

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def rounds(client, count: int = 2) -> list:
    """A first incremental sync, then ``count`` more after random server changes;
    each leaves what a clean sync would. Their results."""
    seed()
    results = [client.sync("blogs", incremental=True)]
    rng = random.Random(count)
    for _ in range(count):
        change_server(rng)
        results.append(client.sync("blogs", incremental=True))
        assert results[-1].modes["testapp.post"] == "content"
        assert_as_clean_sync_gives()
    return results


@e2e
def test_gunicorn_says_it_reads_a_streamed_state_and_gets_one(client_for, live_server_process):
    head = requests.head(live_server_process.sync_url + "blogs", headers=AUTH, timeout=10)
    assert head.status_code == 200
    assert head.headers.get(STREAMED_STATE_HEADER) == "1"
    results = rounds(client_for())
    # The streamed state's bytes are counted as sent.
    assert all(result.bytes_sent > 0 for result in results[1:])
    runs = SyncRun.objects.using("default").order_by("started", "id")
    assert [run.status for run in runs] == ["succeeded"] * 3


@e2e
def test_runserver_reads_no_chunked_body_and_gets_a_state_with_a_length(client_for, tmp_path):
    server = start_runserver(tmp_path, server_env(tmp_path))
    try:
        head = requests.head(server.sync_url + "blogs", headers=AUTH, timeout=10)
        assert head.status_code == 200
        assert STREAMED_STATE_HEADER not in head.headers
        # A chunked body would read as empty there: the state had a length.
        rounds(client_for(api_url=server.sync_url))
    finally:
        stop_server(server)


@e2e
def test_behind_a_proxy_that_wants_a_length_the_state_is_sent_again_with_one(client_for, tmp_path):
    refused = tmp_path / "refused.log"
    server = start_server(tmp_path, extra_env={"SYNCTOOL_E2E_REFUSE_CHUNKED": str(refused)})
    try:
        rounds(client_for(api_url=server.sync_url))
        # The first request of each sync was refused chunked, then sent with a length.
        assert refused.read_text().splitlines() == ["/sync/blogs"] * 3
    finally:
        stop_server(server)


def _state(rows: int):
    models = [("testapp.post", "mark"), ("testapp.tag", "mark")]

    def blocks():
        yield "testapp.post", array("q", range(1, rows + 1)), array("Q", range(7, rows + 7))
        yield "testapp.tag", array("q", [3, 9]), array("Q", [5, 6])

    return StreamedState(models, blocks)


def test_a_streamed_state_is_made_again_for_each_send_and_reads_as_sent():
    state = _state(20_000)
    first = b"".join(state)
    assert state.bytes_sent == len(first)
    assert b"".join(state) == first  # a retry sends it whole again
    chunks = list(state)
    assert len(chunks) > 3  # one flushed piece per block at least, not one at the end
    reader = StateReader(_reader(first))
    posts = [(list(pks), list(d)) for pks, d in reader.blocks("testapp.post")]
    assert sum(len(pks) for pks, _ in posts) == 20_000
    assert posts[0][0][:3] == [1, 2, 3] and posts[0][1][:3] == [7, 8, 9]
    assert [list(pks) for pks, _ in reader.blocks("testapp.tag")] == [[3, 9]]


def _reader(data: bytes):
    position = 0

    def read(size: int) -> bytes:
        nonlocal position
        piece = data[position : position + size]
        position += len(piece)
        return piece

    return read


@pytest.mark.django_db
def test_the_server_answers_nothing_before_the_state_is_read_to_its_end():
    """Control records are held while the state is read; the state of a model
    the server does not compare is read too before the first record."""
    from synctool.server.increment import IncrementalExport
    from tests.testapp.models import Tag

    Tag.objects.create(name="one")
    data = b"".join(_state(20_000))
    read = _reader(data)
    taken = []

    def tracking(size: int) -> bytes:
        piece = read(size)
        taken.append(len(piece))
        return piece

    export = IncrementalExport(
        [Tag.objects.all()], StateReader(tracking), ["testapp.tag"], frozenset()
    )
    records = export.records()
    first = next(records)
    assert sum(taken) == len(data), "a record was answered before the whole state was read"
    assert first["fields"]["kind"] == "head"
    assert list(records)  # the rest follows


class Stuck(Exception):
    """The reader asked for more than the client has sent so far."""


def test_the_server_compares_a_block_before_the_client_sent_the_rest():
    """A WSGI server's read(n) waits for n bytes: the state is read in small
    reads, so the first blocks are compared while the client makes the next
    (at 64 KB a read, a state of versions that repeat was read almost whole
    before the first comparison)."""
    from synctool.wire.state import STREAMED_READ_BYTES

    def blocks():
        for start in range(0, 8192 * 20, 8192):  # versions that repeat compress well
            yield (
                "testapp.post",
                array("q", range(start + 1, start + 8193)),
                array("Q", [42] * 8192),
            )

    pieces = list(StreamedState([("testapp.post", "mark")], blocks))
    sent = b"".join(pieces[:8])  # the header and 7 blocks of 20 so far (600 bytes each)
    position = 0

    def read(size: int) -> bytes:
        nonlocal position
        if position + size > len(sent):
            raise Stuck
        position += size
        return sent[position - size : position]

    first = next(StateReader(read, read_size=STREAMED_READ_BYTES).blocks("testapp.post"))
    assert list(first[0][:2]) == [1, 2] and set(first[1]) == {42}
    position = 0
    with pytest.raises(Stuck):  # what a 64 KB read would do
        next(StateReader(read).blocks("testapp.post"))
