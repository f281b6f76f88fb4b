"""Faults on the real path: gunicorn, HTTP on 127.0.0.1, the client's database.

Each failing sync must raise the matching SynctoolError, name the URL, and
leave the client's database exactly as it was (a digest of every table).
The scripted-server cases (malformed JSON, unknown fields, ...) are in
test_transport.py; this file breaks real answers: the server killed in the
middle of a stream, the connection cut by a TCP proxy (tests/tcp_proxy.py)
at chosen bytes of the body, a real 500 page, a real login redirect, a
server that stops sending, and clean with local rows outside the route.
"""

import datetime
import os
import signal
import threading
import time

import pytest
import requests

from synctool import exceptions, hookimpl
from tests import fault_server
from tests.conftest import TOKEN, e2e, stop_server
from tests.tcp_proxy import CuttingProxy
from tests.testapp.models import Author, Blog, Club, Membership, Post, Tag
from tests.utils import database_digest, model_rows

WHEN = datetime.datetime(2024, 2, 29, 23, 59, 58, 999999, tzinfo=datetime.UTC)
EURO = "€".encode()  # 3 bytes
SMILE = "😀".encode()  # 4 bytes


def make_blog(posts=60, using="server", body="ü€😀 "):
    """A blog whose rows are full of multi-byte characters."""
    author = Author.objects.using(using).create(email="ann@example.org", name="Ann Ünïcødé")
    blog = Blog.objects.using(using).create(name="Blog €", slug="blog", author=author)
    tags = [Tag.objects.using(using).create(name=name) for name in ("€uro", "😀 smile", "plain")]
    Post.objects.using(using).bulk_create(
        Post(blog=blog, title=f"post {i} – € 😀", body=body * (i % 40), created=WHEN)
        for i in range(posts)
    )
    for post in Post.objects.using(using).order_by("pk")[:100]:
        post.tags.set(tags[: post.pk % 4])
    return blog


def assert_synced():
    for model in (Author, Blog, Post, Tag, Post.tags.through):
        assert model_rows(model, "default") == model_rows(model, "server"), model._meta.label


@pytest.fixture
def before():
    """Local rows the failed syncs must leave alone; returns the digest to compare with."""
    Tag.objects.create(pk=777, name="local tag")
    Author.objects.create(pk=777, email="local@example.org", name="Local")
    return database_digest("default")


def refused(client, route, error, match=None, **kwargs):
    """Sync ``route``, expect ``error``; return the exception."""
    with pytest.raises(error, match=match) as info:
        client.sync(route, **kwargs)
    return info.value


# --- the TCP proxy: cuts at chosen bytes of the body -----------------------


@pytest.fixture
def proxy(live_server_process):
    with CuttingProxy(live_server_process.base_url) as running:
        running.only = b"GET /sync/blogs"  # the route's body, not the manifest or HEAD
        yield running


@pytest.fixture
def proxied(proxy, client_for):
    return client_for(api_url=proxy.url + "/sync/")


def served_body(server, gzip: bool) -> bytes:
    """The body of /sync/blogs as the server sends it (gzip bytes when asked)."""
    response = requests.get(
        server.sync_url + "blogs",
        auth=(TOKEN, ""),
        headers={"Accept-Encoding": "gzip" if gzip else "identity"},
        stream=True,
        timeout=30,
    )
    with response:
        assert response.status_code == 200
        assert (response.headers.get("Content-Encoding") == "gzip") is gzip
        return response.raw.read(decode_content=False)


def after(needle: bytes, plus: int = 0, last: bool = False):
    return lambda body: (body.rindex(needle) if last else body.index(needle)) + plus


PLAIN_CUTS = {
    "before the first body byte": lambda body: 0,
    "after the opening bracket": lambda body: 1,
    "inside a 3-byte character": after(EURO, 1),
    "inside a 3-byte character, 2 bytes in": after(EURO, 2),
    "inside a 4-byte character": after(SMILE, 3),
    "inside a 2-byte character": after("Ü".encode(), 1),
    "at an object boundary": after(b"},\n{", 3),
    "inside the last object": after(b"\n{", 20, last=True),
    "after the last object, before the bracket": after(b"\n]", 1, last=True),
    "in the middle": lambda body: len(body) // 2,
}
GZIP_CUTS = {
    "before the first body byte": lambda body: 0,
    "inside the gzip header": lambda body: 5,
    "right after the gzip header": lambda body: 10,
    "a third in": lambda body: len(body) // 3,
    "in the middle": lambda body: len(body) // 2,
    "16 bytes before the end": lambda body: len(body) - 16,
}
CUTS = [
    pytest.param(
        gzip,
        unchunk,
        where,
        id=f"{'gzip' if gzip else 'plain'}-{'close-delimited' if unchunk else 'chunked'}-{where}",
    )
    for gzip, table in ((False, PLAIN_CUTS), (True, GZIP_CUTS))
    for unchunk in (False, True)
    for where in table
]


@e2e
@pytest.mark.parametrize(("gzip", "unchunk", "where"), CUTS)
def test_a_cut_body_is_never_loaded(
    live_server_process, proxy, proxied, before, gzip, unchunk, where
):
    make_blog()
    body = served_body(live_server_process, gzip)
    position = (GZIP_CUTS if gzip else PLAIN_CUTS)[where](body)
    assert 0 <= position < len(body)
    proxy.identity, proxy.unchunk, proxy.cut_after = not gzip, unchunk, position
    error = refused(proxied, "blogs", exceptions.IncompleteResponse)
    assert f"{proxy.url}/sync/blogs" in str(error)
    assert proxy.bodies[-1] == body[:position]  # the cut happened where intended
    assert database_digest("default") == before


@e2e
def test_a_body_cut_while_a_copy_is_in_flight_loads_nothing(
    live_server_process, proxy, proxied, settings, monkeypatch
):
    """On PostgreSQL, batches of a table that was empty go out as COPYs whose
    answer is read later; a cut after several of them still rolls back all."""
    from django.db import connection

    settings.SYNCTOOL_BATCH_SIZE = 300
    Author.objects.create(pk=777, email="local@example.org", name="Local")
    before = database_digest("default")  # no tags: they are copied straight in
    Tag.objects.using("server").bulk_create(Tag(name=f"tag {i} € 😀") for i in range(3000))
    sent = []
    if connection.vendor == "postgresql":
        from synctool.backends import pgcopy

        send = pgcopy.StraightCopy.send.__func__

        def recording(cls, model, rows, using):
            copy = send(cls, model, rows, using)
            sent.append(copy is not None)
            return copy

        monkeypatch.setattr(pgcopy.StraightCopy, "send", classmethod(recording))
    body = served_body(live_server_process, gzip=False)
    proxy.identity, proxy.cut_after = True, body.index(b'"tag 2500 ')
    raw = connection.connection
    refused(proxied, "blogs", exceptions.IncompleteResponse)
    assert connection.connection is raw  # rolled back, not dropped
    assert database_digest("default") == before
    assert (sum(sent) >= 5) is (connection.vendor == "postgresql"), sent


@e2e
@pytest.mark.parametrize("unchunk", [False, True], ids=["chunked", "close-delimited"])
@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_the_proxy_alone_changes_nothing(live_server_process, proxy, proxied, gzip, unchunk):
    make_blog()
    body = served_body(live_server_process, gzip)
    proxy.identity, proxy.unchunk = not gzip, unchunk
    result = proxied.sync("blogs", clean=True)
    assert proxy.bodies[-1] == body
    assert result.bytes_received == len(body) if not gzip else result.bytes_received > len(body)
    assert_synced()


@e2e
@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_a_body_cut_in_the_gzip_trailer_or_the_last_newline_is_complete_or_refused(
    live_server_process, proxy, proxied, before, gzip
):
    """Cut where every object and the bracket have arrived: load all, or nothing."""
    make_blog()
    body = served_body(live_server_process, gzip)
    # plain: "...}\n]" without the final newline; gzip: the CRC and size missing.
    proxy.identity, proxy.unchunk, proxy.cut_after = not gzip, True, len(body) - (4 if gzip else 1)
    try:
        proxied.sync("blogs", clean=True)
    except exceptions.IncompleteResponse:
        assert database_digest("default") == before
    else:
        assert_synced()


@e2e
@pytest.mark.parametrize("cut", [0, 12, 40])
def test_a_connection_cut_in_the_answer_head(proxy, proxied, before, settings, cut):
    settings.SYNCTOOL_RETRIES = 1
    make_blog(posts=3)
    proxy.cut_head_after = cut
    error = refused(proxied, "blogs", exceptions.TransportError)
    assert f"{proxy.url}/sync/blogs" in str(error)
    assert database_digest("default") == before


@e2e
def test_a_502_from_a_proxy_is_retried_then_the_real_answer_loads(proxy, proxied, settings):
    settings.SYNCTOOL_RETRIES = 3
    make_blog(posts=5)
    gateway = b"HTTP/1.1 %d Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    proxy.canned = [gateway % 502, gateway % 503]
    proxied.sync("blogs")
    assert proxy.connections == 3
    assert_synced()


@e2e
def test_a_connection_closed_without_an_answer_is_retried(proxy, proxied, settings):
    """A worker restarting closes the connection before it answers."""
    settings.SYNCTOOL_RETRIES = 3
    make_blog(posts=5)
    proxy.canned = [b"", b""]  # closed twice without a byte, then the real answer
    proxied.sync("blogs")
    assert proxy.connections == 3
    assert_synced()


@e2e
def test_a_state_post_closed_without_an_answer_is_not_sent_again(proxy, proxied, before, settings):
    """The client's incremental state streams out as it is read: it cannot be sent twice."""
    settings.SYNCTOOL_RETRIES = 3
    make_blog(posts=5)
    proxy.only, proxy.canned = b"POST /sync/blogs", [b""]
    error = refused(proxied, "blogs", exceptions.ServerUnreachable, incremental=True)
    assert "closed the connection without an HTTP answer)" in str(error)
    assert "https" not in str(error)  # it answered the manifest over http:// a moment ago
    assert proxy.connections == 1
    assert database_digest("default") == before


# --- real error answers ----------------------------------------------------


@e2e
def test_a_500_page_from_gunicorn_before_the_first_byte(proxy, proxied, before):
    # tests/plugins.py raises on this title; no byte of the body was sent yet,
    # so gunicorn answers its own 500 page.
    blog = make_blog(posts=2)
    Post.objects.using("server").create(blog=blog, title="BOOM-ON-SERVER", created=WHEN)
    proxy.identity = True
    error = refused(proxied, "blogs", exceptions.ServerError, match=r"HTTP 500 \(text/html\)")
    assert f"{proxy.url}/sync/blogs" in str(error)
    # The head is recorded before it is forwarded; the body may still be on
    # its way when the client has already refused the answer.
    assert proxy.heads[-1].startswith(b"HTTP/1.1 500")
    assert database_digest("default") == before


@e2e
def test_the_same_failure_with_gzip(client_for, before):
    # Whether the gzip header went out first (then the body is cut) or not
    # (then gunicorn answers 500), the sync is refused.
    blog = make_blog(posts=2)
    Post.objects.using("server").create(blog=blog, title="BOOM-ON-SERVER", created=WHEN)
    error = (exceptions.IncompleteResponse, exceptions.ServerError)
    refused(client_for(), "blogs", error, match="/sync/blogs")
    assert database_digest("default") == before


@pytest.fixture(scope="module")
def faulty(django_db_setup, django_db_blocker, tmp_path_factory):
    """The fault-injection server (tests/fault_server.py), two workers."""
    server = fault_server.start(tmp_path_factory.mktemp("faulty"))
    yield server
    stop_server(server)


@e2e
def test_a_302_to_a_login_page_from_django(faulty, client_for, before):
    make_blog(posts=2)
    client = client_for(api_url=faulty.base_url + "/private/sync/")
    error = refused(client, "blogs", exceptions.NotJSONResponse, match="login")
    message = str(error)
    # The manifest, asked first, is behind the same login.
    assert f"{faulty.base_url}/private/sync/" in message
    assert "/accounts/login/?next=/private/sync/" in message
    assert database_digest("default") == before
    # The same routes without login_required work on that server.
    client_for(api_url=faulty.sync_url).sync("blogs", clean=True)
    assert_synced()


def pause_post(blog, name):
    return Post.objects.using("server").create(
        blog=blog, title=fault_server.PAUSE + name, created=WHEN
    )


def wait_for(path, seconds=30):
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)


@e2e
def test_a_server_that_stops_sending_hits_the_read_timeout(faulty, client_for, before, settings):
    settings.SYNCTOOL_TIMEOUT = (5, 0.5)
    blog = make_blog(posts=20)
    pause_post(blog, "timeout")
    try:
        error = refused(
            client_for(api_url=faulty.sync_url), "blogs", exceptions.ServerTimeout, match="0.5 s"
        )
        assert f"{faulty.sync_url}blogs" in str(error)
        assert (faulty.fault_dir / "timeout.paused").exists()
    finally:
        (faulty.fault_dir / "timeout.release").touch()
    assert database_digest("default") == before


class BatchRecorder:
    def __init__(self):
        self.posts_written = threading.Event()

    @hookimpl
    def post_save(self, model, instances):
        if model is Post:
            self.posts_written.set()


@e2e
def test_the_server_killed_in_the_middle_of_the_stream(
    tmp_path, client_for, register_plugin, before, settings
):
    """SIGKILL of the gunicorn master and the worker streaming, once the client
    has written rows inside its transaction: everything is rolled back."""
    # Generous waits: on a loaded machine (two test runs at once) the first
    # batch of posts once took longer than a 30 s read timeout to be written.
    settings.SYNCTOOL_TIMEOUT = (5, 120)
    settings.SYNCTOOL_BATCH_SIZE = 500
    blog = make_blog(posts=3000, body="streamed ü€😀 ")
    pause_post(blog, "kill")
    server = fault_server.start(tmp_path, workers=1)
    recorder = register_plugin(BatchRecorder())
    killed = []

    def kill_when_paused():
        try:
            wait_for(server.fault_dir / "kill.paused", seconds=90)
            assert recorder.posts_written.wait(90), "the client wrote no batch of posts"
            worker = int((server.fault_dir / "kill.paused").read_text())
            os.kill(server.process.pid, signal.SIGKILL)  # first: no new worker is spawned
            os.kill(worker, signal.SIGKILL)
            killed.append(worker)
        except BaseException as exc:  # reported by the main thread
            killed.append(exc)
            os.kill(server.process.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_paused)
    killer.start()
    try:
        error = refused(client_for(api_url=server.sync_url), "blogs", exceptions.IncompleteResponse)
    finally:
        killer.join(60)
        stop_server(server)
    assert len(killed) == 1 and isinstance(killed[0], int), killed
    assert f"{server.sync_url}blogs" in str(error)
    assert "connection was cut" in str(error)
    assert database_digest("default") == before


# --- clean with local rows outside the route --------------------------------


@e2e
class TestCleanOutsideTheRoute:
    def local_post(self, tags):
        blog = Blog.objects.create(name="local", slug="local")
        post = Post.objects.create(blog=blog, title="local", created=WHEN)
        post.tags.set(tags)
        return post

    def test_many_to_many_rows_of_a_model_outside_the_route(self, client_for):
        # "tags" carries Tag only; Post.tags rows are outside it.
        Tag.objects.using("server").create(pk=1, name="kept")
        self.local_post([Tag.objects.create(pk=900, name="local only")])
        before = database_digest("default")
        with pytest.raises(exceptions.CleanConflict, match=r"testapp.Post_tags \(pk \d+\) via tag"):
            client_for().sync("tags", clean=True)
        assert database_digest("default") == before

    def test_many_to_many_rows_whose_target_comes_back(self, client_for):
        Tag.objects.using("server").create(pk=1, name="kept")
        post = self.local_post([Tag.objects.create(pk=1, name="old name")])
        client_for().sync("tags", clean=True)
        assert list(post.tags.values_list("pk", "name")) == [(1, "kept")]

    def test_a_set_null_foreign_key_is_not_silently_nulled(self, client_for):
        # "clubs" carries Club, Membership and Author; Blog.author is SET_NULL.
        Author.objects.using("server").create(pk=1, email="server@example.org", name="S")
        author = Author.objects.create(pk=50, email="local@example.org", name="L")
        Blog.objects.create(name="local", slug="local", author=author)
        Membership.objects.create(
            club=Club.objects.create(name="c"), author=author, joined=WHEN.date()
        )
        before = database_digest("default")
        with pytest.raises(exceptions.CleanConflict, match=r"testapp.Blog \(pk \d+\) via author"):
            client_for().sync("clubs", clean=True)
        assert database_digest("default") == before
