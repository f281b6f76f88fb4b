"""A sync cannot hurt production (issue: hardening), on real servers.

- the cap on concurrent exports, under gunicorn's threaded workers: the
  N+1th request gets 503 with Retry-After, and a place comes back when a
  stream breaks;
- a slow reader against PostgreSQL and MariaDB: the snapshot's own idle
  timeout ends it, and the client sees an incomplete body;
- uvicorn (ASGI): the response streams, so stalled clients cost no memory;
- per-token routes and the audit line (token id, never the token).
"""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connections
from django.test import override_settings

from synctool import exceptions, hookimpl
from synctool.client import Client
from synctool.server.auth import token_id
from synctool.wire.decode import decode_fixture
from tests import fault_server
from tests.conftest import ROOT, TOKEN, e2e, free_port, start_server, stop_server
from tests.testapp.models import AllTypes, Author, Blog, Post
from tests.utils import model_rows

BACKEND = os.environ.get("SYNCTOOL_TEST_DB", "sqlite")
WHEN = "2024-01-01T00:00:00Z"


def wait_until(condition, seconds=20.0, what="the condition"):
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(0.05)
    return result


def get(url, **kwargs):
    kwargs.setdefault("timeout", 30)
    return requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, **kwargs)


class StalledReader:
    """A GET whose reader stops after the first bytes: a small receive buffer,
    so the server soon has to wait for it.

    ``StalledReader(url)`` sends the request; :meth:`answer` waits for the
    status line and reads the first bytes.
    """

    def __init__(self, url: str):
        parts = requests.utils.urlparse(url)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((parts.hostname, parts.port))
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.connection.sock = self.sock
        self.connection.request("GET", parts.path, headers={"Authorization": f"Bearer {TOKEN}"})

    def answer(self, read_first: int = 1024) -> "StalledReader":
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.first = self.response.read(read_first) if self.status == 200 else b""
        return self

    def rest(self) -> tuple[bytes, bool]:
        """The rest of the body, and whether it ended properly."""
        try:
            return self.first + self.response.read(), True
        except http.client.IncompleteRead as exc:
            return self.first + exc.partial, False

    def close(self):
        self.connection.close()


# --- the cap on concurrent exports ------------------------------------------------


def paused_blog(slug: str) -> Blog:
    author = Author.objects.using("server").create(email=f"{slug}@example.org", name=slug)
    blog = Blog.objects.using("server").create(name=slug, slug=slug, author=author)
    Post.objects.using("server").create(blog=blog, title="plain", created=WHEN)
    Post.objects.using("server").create(blog=blog, title=fault_server.PAUSE + slug, created=WHEN)
    return blog


@e2e
def test_one_export_more_than_the_cap_gets_503_until_a_stream_ends(tmp_path, monkeypatch, settings):
    monkeypatch.setenv("SYNCTOOL_E2E_MAX_EXPORTS", "2")
    monkeypatch.setenv("SYNCTOOL_E2E_EXPORT_RETRY_AFTER", "7")
    monkeypatch.setenv("SYNCTOOL_E2E_AUDIT", "1")
    server = fault_server.start(
        tmp_path, workers=1, gunicorn_args="--worker-class gthread --threads 6"
    )
    paused = server.fault_dir
    try:
        for slug in ("a", "b"):
            paused_blog(slug)
        # Each export stops on the server at its paused post, before its
        # first byte, holding its place.
        first = StalledReader(server.sync_url + "blog/a")
        wait_until(lambda: (paused / "a.paused").exists(), what="the first export's pause")
        second = StalledReader(server.sync_url + "blog/b")
        wait_until(lambda: (paused / "b.paused").exists(), what="the second export's pause")

        refused = get(server.sync_url + "sites")
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "7"
        assert "SYNCTOOL_MAX_EXPORTS" in refused.text
        # synctool's client says why, not only "HTTP 503".
        settings.SYNCTOOL_RETRIES = 0
        with pytest.raises(exceptions.ServerUnavailable) as unavailable:
            Client(api_url=server.sync_url, api_token=TOKEN).sync("sites")
        assert "answered HTTP 503 (text/plain): synctool: this server is streaming as many " in (
            str(unavailable.value)
        )
        # HEAD and the manifest are not exports: they still answer.
        assert requests.head(
            server.sync_url + "blogs", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ).ok
        assert get(server.sync_url).ok

        # The first reader goes away; its stream breaks when it resumes.
        first.close()
        (paused / "a.release").touch()
        wait_until(
            lambda: get(server.sync_url + "sites").status_code == 200,
            what="a place given back after the broken stream",
        )
        (paused / "b.release").touch()
        assert second.answer(read_first=1).status == 200
        body, complete = second.rest()
        assert complete
        assert len(list(decode_fixture([body]))) == 4  # the author (a parent), blog, two posts
        second.close()
        log = wait_until(
            lambda: server.log() if server.log().count("outcome=") >= 3 else None,
            what="three audit lines",
        )
    finally:
        for name in ("a", "b"):
            (paused / f"{name}.release").touch()
        stop_server(server)
    assert re.search(r"export route='blog/\(\?P<slug>.*outcome=(closed|failed)", log), log
    assert re.search(r"route='sites' .*rows=\d+ bytes=\d+ .*outcome=complete", log), log
    assert f"token={token_id(TOKEN)}" in log
    assert TOKEN not in log


# --- a slow reader holds no snapshot for long ---------------------------------------


def sessions_on(database: str, idle_in_transaction: bool = False) -> set[int]:
    """The PostgreSQL sessions (pids) on ``database``; only those idle in a
    transaction with ``idle_in_transaction``."""
    query = "SELECT pid FROM pg_stat_activity WHERE datname = %s"
    if idle_in_transaction:
        query += " AND state LIKE 'idle in transaction%%'"
    with connections["default"].cursor() as cursor:
        cursor.execute(query, [database])
        return {pid for (pid,) in cursor.fetchall()}


@e2e
@pytest.mark.skipif(BACKEND == "sqlite", reason="SQLite is read query by query: no snapshot")
def test_a_reader_that_stalls_loses_its_snapshot_not_production(tmp_path):
    AllTypes.objects.using("server").bulk_create(
        (AllTypes(char=f"row {i}", text=f"{i:06d}" * 11_000) for i in range(400)),
        batch_size=50,  # under MariaDB's max_allowed_packet
    )  # about 26 MB of JSON
    server = start_server(
        tmp_path,
        extra_env={"SYNCTOOL_E2E_EXPORT_IDLE_TIMEOUT": "1", "SYNCTOOL_E2E_CHUNK_SIZE": "10"},
    )
    database = connections["server"].settings_dict["NAME"]
    try:
        reader = StalledReader(server.sync_url + "alltypes-only").answer()
        assert reader.status == 200
        if BACKEND == "postgres":
            # The server waits on the reader inside its snapshot; the database
            # ends that session after a second of it. (Between two chunks the
            # session is briefly idle in its transaction, then active again:
            # only its end says the timeout struck. The reader has not read, so
            # the export cannot have ended on its own.)
            stalled = wait_until(
                lambda: sessions_on(database, idle_in_transaction=True), what="the stall"
            )
            wait_until(
                lambda: not stalled & sessions_on(database), what="the stalled session's end"
            )
        else:
            time.sleep(3)  # MariaDB's idle_transaction_timeout is whole seconds
        body, complete = reader.rest()
        reader.close()
    finally:
        stop_server(server)
    assert not complete
    with pytest.raises(exceptions.IncompleteResponse):
        list(decode_fixture([body]))
    assert "idle" in server.log().lower() or "gone away" in server.log().lower()


# --- ASGI: the response streams -----------------------------------------------------------


def stop_uvicorn(process: subprocess.Popen) -> None:
    """Stop it, killed if a request holds its graceful shutdown: a server left
    running would keep its connection to the test database open."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_uvicorn(tmp_path: Path, env: dict) -> tuple[subprocess.Popen, str]:
    settings_dict = connections["server"].settings_dict
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.server_settings",
        "SYNCTOOL_E2E_DATABASE": json.dumps(
            {
                k: v
                for k, v in settings_dict.items()
                if k in {"ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS"}
            }
        ),
        **env,
    }
    log = open(tmp_path / "uvicorn.log", "wb")  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--log-level",
            "warning",
            "tests.asgi:application",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"

    def answers():
        if process.poll() is not None:
            raise RuntimeError((tmp_path / "uvicorn.log").read_text())
        try:
            return get(base + "/sync/", timeout=5).ok
        except requests.RequestException:
            return False

    wait_until(answers, seconds=30, what="uvicorn's start")
    return process, base


def resident_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1)) * 1024


@e2e
def test_under_uvicorn_stalled_readers_cost_no_memory_and_a_sync_is_right(tmp_path, client_for):
    AllTypes.objects.using("server").bulk_create(
        (AllTypes(char=f"row {i}", text=f"{i:06d}" * 11_000) for i in range(600)),
        batch_size=50,
    )  # about 40 MB of JSON
    process, base = start_uvicorn(
        tmp_path, {"SYNCTOOL_E2E_CHUNK_SIZE": "10", "SYNCTOOL_E2E_EXPORT_IDLE_TIMEOUT": "null"}
    )
    readers = []
    try:
        # Warm up (imports, connection), then measure.
        assert get(base + "/sync/alltypes-only").ok
        before = resident_bytes(process.pid)
        for _ in range(3):
            reader = StalledReader(base + "/sync/alltypes-only").answer()
            assert reader.status == 200 and reader.first.startswith(b"[\n{")
            readers.append(reader)
        grown = resident_bytes(process.pid) - before
        # Buffered (Django's default under ASGI), each reader would have cost
        # the whole 40 MB body before its first byte.
        assert grown < 30 * 1024 * 1024, f"the server grew by {grown / 2**20:.0f} MiB"
        for reader in readers:
            reader.close()
        readers.clear()
        client_for(api_url=base + "/sync/").sync("alltypes-only", clean=True)
    finally:
        for reader in readers:
            reader.close()
        stop_uvicorn(process)
    assert model_rows(AllTypes, "default") == model_rows(AllTypes, "server")


# --- per-token routes and the audit line (in process) ---------------------------------

CI_TOKEN = "ci-token-0123456789abcdef"  # noqa: S105
TOKENS = {TOKEN: "*", CI_TOKEN: ["sites"]}


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.django_db
@override_settings(SYNCTOOL_API_TOKEN=TOKENS)
def test_a_token_pulls_only_its_routes(client):
    assert client.get("/sync/sites", **bearer(CI_TOKEN)).status_code == 200
    refused = client.get("/sync/blogs", **bearer(CI_TOKEN))
    assert refused.status_code == 403
    assert "may not pull route 'blogs'" in refused.content.decode()
    manifest = json.loads(client.get("/sync/", **bearer(CI_TOKEN)).content)
    assert [route["path"] for route in manifest["routes"]] == ["sites"]
    full = json.loads(client.get("/sync/", **bearer(TOKEN)).content)
    assert len(full["routes"]) > 10
    assert client.get("/sync/blogs", **bearer(TOKEN)).status_code == 200


@e2e
def test_a_restricted_token_through_the_client(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNCTOOL_E2E_API_TOKEN", json.dumps(TOKENS))
    server = start_server(tmp_path)
    try:
        restricted = Client(api_url=server.sync_url, api_token=CI_TOKEN)
        restricted.sync("sites")
        # Routes it may not pull are not in its manifest: the client says so
        # before it asks for them.
        with pytest.raises(exceptions.RouteNotFound, match="no route 'blogs' .for this token"):
            restricted.sync("blogs")
        with pytest.raises(exceptions.RouteNotFound, match="may pull only some routes"):
            restricted.check(["blogs"])
        Client(api_url=server.sync_url, api_token=TOKEN).sync("blogs")
    finally:
        stop_server(server)


class Finished:
    def __init__(self):
        self.calls = []

    @hookimpl
    def export_finished(self, path, token_id, rows, bytes_sent, outcome):
        self.calls.append((path, token_id, rows, bytes_sent, outcome))


@pytest.mark.django_db(transaction=True)  # closing a response closes the connection
def test_every_export_ends_with_one_audit_line_and_the_hook(client, caplog, register_plugin):
    from django.contrib.sites.models import Site

    Site.objects.create(domain="two.example.org", name="two")
    hook = register_plugin(Finished())
    with caplog.at_level("INFO", logger="synctool.audit"):
        response = client.get("/sync/sites", **bearer(TOKEN))
        body = b"".join(response.streaming_content)
        response.close()
        unread = client.get("/sync/sites", **bearer(TOKEN))
        unread.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "synctool.audit"]
    assert len(lines) == 2, lines
    rows = Site.objects.count()
    assert f"route='sites' token={token_id(TOKEN)} rows={rows} bytes={len(body)}" in lines[0]
    assert lines[0].endswith("outcome=complete")
    assert lines[1].endswith("outcome=closed")
    assert TOKEN not in "".join(lines)
    assert hook.calls[0] == ("sites", token_id(TOKEN), rows, len(body), "complete")
    assert hook.calls[1][-1] == "closed"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "head", "post", "put", "delete", "options"])
@pytest.mark.parametrize("path", ["/sync/blogs", "/sync/no-such-route", "/sync/a/b/../c", "/sync/"])
def test_without_a_token_every_path_and_method_gets_401(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")


@pytest.mark.django_db
def test_with_a_token_unknown_paths_are_404_and_other_methods_405(client):
    assert client.get("/sync/no-such-route", **bearer(TOKEN)).status_code == 404
    assert client.post("/sync/blogs", **bearer(TOKEN)).status_code == 405
    assert client.delete("/sync/", **bearer(TOKEN)).status_code == 405


@e2e
def test_under_uvicorn_an_export_error_reaches_the_client(tmp_path, client_for):
    """After the status line, the error's message still arrives (ASGI streams too)."""
    from django.contrib.auth.models import User

    from tests.shop.models import Comment, Rating
    from tests.test_identity import make_shop

    make_shop(customers=1, orders=1)
    gone = User.objects.using("server").get(username="user0")
    rating = Rating.objects.using("server").create(content_object=gone)
    User.objects.using("server").filter(pk=gone.pk).delete()
    process, base = start_uvicorn(tmp_path, {})
    try:
        with pytest.raises(exceptions.ExportError, match=f"shop.Rating pk={rating.pk}: "):
            client_for(api_url=base + "/sync/").sync("orders")
    finally:
        stop_uvicorn(process)
    assert not Comment.objects.using("default").exists()
