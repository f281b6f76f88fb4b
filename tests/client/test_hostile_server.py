"""A lying server cannot hurt the laptop (issue: hardening).

Each case is a real HTTP server on 127.0.0.1 (tests.utils.ScriptedServer)
answering what a hostile or broken server would: models the client did not
ask for, decompression bombs, enormous lines, deep nesting, a trickle, a
``Retry-After`` of hours, redirects elsewhere, escape sequences. Every one
ends in a SynctoolError naming the limit (and the setting that raises it),
with the client's database unchanged; the bombs also within a memory bound
(tracemalloc's peak, which counts every bytes object the client makes).
"""

import gzip
import ssl
import threading
import time
import tracemalloc
import zlib

import orjson
import pytest
from django.contrib.auth.models import User

from synctool import exceptions
from synctool.client import Client
from synctool.client.transport import CappedRetry
from synctool.wire.decode import decode_fixture
from tests.testapp.models import AllTypes, Tag
from tests.utils import ScriptedServer, answer, database_digest

pytestmark = pytest.mark.django_db

TOKEN = "t0ken-0123456789abcdef"  # noqa: S105
TAGS = "testapp.tag"
GOOD = (
    b'[\n{"model":"testapp.tag","pk":1,"fields":{"name":"one"}},\n'
    b'{"model":"testapp.tag","pk":2,"fields":{"name":"two"}}\n]\n'
)
MiB = 1024 * 1024


@pytest.fixture
def server():
    with ScriptedServer() as scripted:
        yield scripted


@pytest.fixture
def client(server):
    return Client(api_url=server.url + "/sync/", api_token=TOKEN)


@pytest.fixture
def unchanged():
    """Local rows in every table a lying server could aim at; unchanged after the test."""
    Tag.objects.create(name="local")
    User.objects.create_user("laptop-admin", password="local", is_superuser=True)
    AllTypes.objects.create(char="local")
    apps = ("testapp", "auth", "contenttypes")
    before = database_digest("default", app_labels=apps)
    yield
    assert database_digest("default", app_labels=apps) == before


def fixture(body=GOOD, models=TAGS, **kwargs):
    return answer(body=body, headers={"X-Synctool-Models": models, **kwargs.pop("headers", {})})


def gzipped(body: bytes, models=TAGS):
    return answer(body=body, headers={"X-Synctool-Models": models, "Content-Encoding": "gzip"})


def refused_within(client, route: str) -> tuple[str, int]:
    """Sync ``route`` expecting LimitExceeded: ``(its message, the peak of Python
    allocations in bytes meanwhile)``."""
    tracemalloc.start()
    try:
        with pytest.raises(exceptions.LimitExceeded) as info:
            client.sync(route)
        return str(info.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- what the client writes ------------------------------------------------------

SUPERUSER = orjson.dumps(
    {
        "model": "auth.user",
        "pk": 1,
        "fields": {
            "username": "attacker",
            "password": "pbkdf2_sha256$1$salt$known",
            "is_superuser": True,
            "is_staff": True,
            "is_active": True,
            "date_joined": "2024-01-01T00:00:00Z",
            "email": "",
            "first_name": "",
            "last_name": "",
            "groups": [],
            "user_permissions": [],
        },
    }
)


def test_a_superuser_and_a_session_announced_by_a_tag_route_are_refused(
    server, client, unchanged, settings
):
    settings.SYNCTOOL_NATURAL_KEYS = []  # the laptop does not identify users by key
    body = b"[\n" + SUPERUSER + b"\n]\n"
    server.routes["/sync/superuser"] = fixture(body, models="testapp.tag,auth.user")
    with pytest.raises(exceptions.ModelNotAllowed, match="auth.user") as info:
        client.sync("superuser", clean=True)
    assert "nothing was cleaned or written" in str(info.value)
    # Merging by natural key is advised first; --allow says what it would do.
    assert "list them in SYNCTOOL_NATURAL_KEYS" in str(info.value)
    assert "--allow auth.user (Client" in str(info.value)
    assert "over local rows with the same ids" in str(info.value)
    # A server that sends users by natural key: allowed, they would be merged by
    # username all the same, and the advice says so.
    server.routes["/sync/superuser"] = fixture(
        b"[\n]\n", models="testapp.tag,auth.user", headers={"X-Synctool-Natural-Keys": "auth.user"}
    )
    with pytest.raises(exceptions.ModelNotAllowed, match="auth.user") as info:
        client.sync("superuser")
    assert "The server sends auth.user by natural key" in str(info.value)
    assert "merged with this database's own rows by natural key" in str(info.value)
    assert "over local rows with the same ids" not in str(info.value)
    # Sessions are never allowed, whatever the identity settings.
    settings.SYNCTOOL_NATURAL_KEYS = ["auth.User"]
    server.routes["/sync/superuser"] = fixture(b"[\n]\n", models="testapp.tag,sessions.session")
    with pytest.raises(exceptions.ModelNotAllowed, match="sessions.session"):
        client.sync("superuser")


def test_synctool_history_is_never_written_by_a_sync(server, client, unchanged, settings):
    """A route announcing synctool's own models (this database's history of syncs
    and incremental state) is refused, even with every model allowed."""
    settings.SYNCTOOL_CLIENT_ALLOW = ["*"]
    server.routes["/sync/history"] = fixture(b"[\n]\n", models="testapp.tag,synctool.syncrun")
    with pytest.raises(exceptions.ModelNotAllowed, match="synctool.syncrun") as info:
        client.sync("history", clean=True, allow=["synctool"])
    assert "never writes" in str(info.value)


def test_an_announced_model_with_no_rows_cannot_clean_it(server, client, unchanged, settings):
    settings.SYNCTOOL_NATURAL_KEYS = []
    server.routes["/sync/wipe"] = fixture(b"[\n]\n", models="auth.user,auth.group")
    with pytest.raises(exceptions.ModelNotAllowed) as info:
        client.sync("wipe", clean=True)
    # Every refused model is named in the way out, not only the first.
    assert "--allow auth.user --allow auth.group" in str(info.value)


def test_allowing_a_model_lets_it_through(server, client, settings):
    settings.SYNCTOOL_NATURAL_KEYS = []
    body = b"[\n" + SUPERUSER.replace(b'"attacker"', b'"colleague"') + b"\n]\n"
    server.routes["/sync/users"] = fixture(body, models="auth.user")
    client.sync("users", allow=["auth.User"])
    assert User.objects.get().username == "colleague"
    settings.SYNCTOOL_CLIENT_ALLOW = ["testapp"]
    server.routes["/sync/tags"] = fixture()
    client.sync("tags")
    with pytest.raises(exceptions.ModelNotAllowed):
        client.sync("users")


def test_a_route_announcing_models_its_manifest_does_not_list(server, client, unchanged):
    manifest = {
        "synctool": "scripted",
        "routes": [{"path": "tags", "kind": "models", "models": [TAGS]}],
    }
    server.routes["/sync/"] = answer(body=orjson.dumps(manifest))
    server.routes["/sync/tags"] = fixture(models="testapp.tag,testapp.alltypes")
    with pytest.raises(exceptions.UnexpectedModel, match="testapp.alltypes"):
        client.sync("tags", clean=True)


# --- bounded reading ---------------------------------------------------------------


def gzip_bomb(line_bytes: int) -> bytes:
    """A gzip body of one object whose line is ``line_bytes`` long (built in pieces)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(b'[\n{"model":"testapp.tag","pk":1,"fields":{"name":"')]
    block = b"a" * MiB
    for _ in range(line_bytes // MiB):
        parts.append(compressor.compress(block))
    parts.append(compressor.compress(b'"}}\n]\n'))
    parts.append(compressor.flush())
    return b"".join(parts)


def test_a_gzip_bomb_is_refused_within_bounded_memory(server, client, unchanged):
    bomb = gzip_bomb(512 * MiB)
    assert len(bomb) < 1 * MiB
    server.routes["/sync/tags"] = gzipped(bomb)
    message, peak = refused_within(client, "tags")
    assert "SYNCTOOL_MAX_GZIP_RATIO" in message
    assert peak < 80 * MiB, f"peak {peak / MiB:.0f} MiB"


def test_one_enormous_line_is_refused_at_the_line_limit(server, client, unchanged, settings):
    settings.SYNCTOOL_MAX_LINE_BYTES = 4 * MiB
    settings.SYNCTOOL_MAX_GZIP_RATIO = None  # the line limit alone
    server.routes["/sync/tags"] = gzipped(gzip_bomb(64 * MiB))
    message, peak = refused_within(client, "tags")
    assert "longer than 4194304 bytes; SYNCTOOL_MAX_LINE_BYTES raises the limit" in message
    assert "object #1" in message
    assert peak < 24 * MiB, f"peak {peak / MiB:.0f} MiB"


def test_a_body_over_the_body_limit_is_refused(server, client, unchanged, settings):
    settings.SYNCTOOL_MAX_BODY_BYTES = 1000
    lines = [f'{{"model":"testapp.tag","pk":{i},"fields":{{"name":"t{i}"}}}}' for i in range(100)]
    server.routes["/sync/tags"] = fixture(("[\n" + ",\n".join(lines) + "\n]\n").encode())
    with pytest.raises(exceptions.LimitExceeded, match="SYNCTOOL_MAX_BODY_BYTES"):
        client.sync("tags")


def decoding_seconds(line_bytes: int) -> float:
    """The best of three decodes of one object on a ``line_bytes`` line, in 16 KiB chunks."""
    line = b'{"model":"testapp.tag","pk":1,"fields":{"name":"' + b"x" * line_bytes + b'"}}'
    body = b"[\n" + line + b"\n]\n"
    chunks = [body[i : i + 16 * 1024] for i in range(0, len(body), 16 * 1024)]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        [obj] = decode_fixture(chunks, max_line=64 * MiB)
        best = min(best, time.perf_counter() - started)
        assert len(obj["fields"]["name"]) == line_bytes
    return best


def test_a_long_honest_line_is_read_in_linear_time():
    """Joining the unfinished line at every chunk made a 128 MB line take 106 s.

    Eight times the line, about eight times the time when buffering is
    linear; sixty-four times when it is quadratic (the bound is between).
    """
    small, large = decoding_seconds(4 * MiB), decoding_seconds(32 * MiB)
    assert large < 24 * small + 0.05, f"4 MiB: {small:.3f} s, 32 MiB: {large:.3f} s"


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_a_deep_value_in_a_foreign_fixture_is_refused_before_it_is_built(server, client, unchanged):
    # Not synctool's one-object-per-line framing: the general (ijson) parser.
    body = b'[{"model":"testapp.alltypes","pk":1,"fields":{"json":' + nested(40_000) + b"}}]"
    assert len(body) < 100_000
    server.routes["/sync/alltypes"] = fixture(body, models="testapp.alltypes")
    message, peak = refused_within(client, "alltypes")
    assert "deeper than 1000 levels; SYNCTOOL_MAX_DEPTH raises the limit" in message
    assert peak < 32 * MiB, f"peak {peak / MiB:.0f} MiB"


def test_a_deep_value_on_a_line_is_a_limit_not_a_recursion_error(server, client, unchanged):
    body = b'[\n{"model":"testapp.alltypes","pk":1,"fields":{"json":' + nested(5000) + b"}}\n]\n"
    server.routes["/sync/alltypes"] = fixture(body, models="testapp.alltypes")
    with pytest.raises(exceptions.LimitExceeded, match="nested deeper"):
        client.sync("alltypes")


def test_legitimately_nested_json_still_loads(server, client):
    value = [{"level": [1, {"deeper": [2, 3]}]}] * 3
    for _ in range(24):  # MariaDB's JSON_VALID stops at 32 levels
        value = {"child": value}
    body = (
        b'[\n{"model":"testapp.alltypes","pk":1,"fields":{"created":"2024-01-01T00:00:00Z",'
        b'"json":' + orjson.dumps(value) + b"}}\n]\n"
    )
    server.routes["/sync/alltypes"] = fixture(body, models="testapp.alltypes")
    client.sync("alltypes")
    assert AllTypes.objects.get().json == value


# --- bounded time ---------------------------------------------------------------------


def test_a_trickling_body_hits_the_sync_deadline(server, client, unchanged, settings):
    settings.SYNCTOOL_SYNC_TIMEOUT = 1.5
    settings.SYNCTOOL_TIMEOUT = (5, 5)  # each byte comes well within the read timeout
    stop = threading.Event()

    def trickle(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("X-Synctool-Models", TAGS)
        handler.send_header("Content-Length", str(len(GOOD)))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        for byte in GOOD:
            if stop.wait(0.2):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    server.routes["/sync/tags"] = trickle
    try:
        with pytest.raises(exceptions.LimitExceeded, match="SYNCTOOL_SYNC_TIMEOUT") as info:
            client.sync("tags")
    finally:
        stop.set()
    assert "more than 1.5 s" in str(info.value)


def test_retry_after_is_capped():
    class Response:
        headers = {"Retry-After": "21600"}

        def get_redirect_location(self):
            return None

    retry = CappedRetry(total=1)
    with pytest.MonkeyPatch.context() as patch:
        from django.conf import settings

        patch.setattr(settings, "SYNCTOOL_MAX_RETRY_AFTER", 2, raising=False)
        assert retry.get_retry_after(Response()) == 2.0


def test_a_503_asking_for_hours_is_retried_after_the_cap(server, client, settings):
    settings.SYNCTOOL_MAX_RETRY_AFTER = 0.2
    settings.SYNCTOOL_RETRIES = 2
    answers = iter([answer(503, b"maintenance", "text/plain", headers={"Retry-After": "21600"})])

    def maintenance_then_data(handler):
        next(answers, fixture())(handler)

    server.routes["/sync/tags"] = maintenance_then_data
    started = time.monotonic()
    client.sync("tags")
    # Six hours were asked for; the wait was the cap (the bound leaves room
    # for a slow machine, and none for an honoured Retry-After).
    assert time.monotonic() - started < 60
    assert Tag.objects.count() == 2


# --- transport hygiene ------------------------------------------------------------------


def test_a_redirect_within_the_origin_is_followed(server, client):
    server.routes["/sync/tags"] = answer(302, headers={"Location": "/sync/tags-v2"})
    server.routes["/sync/tags-v2"] = fixture()
    client.sync("tags")
    assert Tag.objects.count() == 2


def test_a_redirect_from_https_down_to_http_is_refused(certificate, monkeypatch, unchanged):
    key, cert = certificate
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    with ScriptedServer() as plain, ScriptedServer() as secure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        secure.httpd.socket = context.wrap_socket(secure.httpd.socket, server_side=True)
        plain.routes["/sync/tags"] = fixture()
        secure.routes["/sync/tags"] = answer(302, headers={"Location": plain.url + "/sync/tags"})
        https_url = secure.url.replace("http://", "https://") + "/sync/"
        client = Client(api_url=https_url, api_token=TOKEN)
        with pytest.raises(exceptions.RedirectRefused, match="from https to plain http"):
            client.sync("tags")
        assert plain.requests == []  # never asked: the data stays encrypted


def test_escape_sequences_from_the_server_never_reach_the_terminal(server, client, unchanged):
    evil = "\x1b]0;pwned\x07\x1b[2K\x1b[1A\rall good\x9b31m"
    reason = {"X-Synctool-Reason": evil.replace("\r", "")}
    server.routes["/sync/tags"] = answer(403, evil.encode(), "text/plain", headers=reason)
    server.routes["/sync/tags.json"] = fixture(b"[\n" + evil.encode() + b"\n]\n")
    for route, error in (
        ("tags", exceptions.AuthenticationFailed),
        ("tags.json", exceptions.MalformedResponse),
    ):
        with pytest.raises(error) as info:
            client.sync(route)
        message = str(info.value)
        assert "pwned" in message
        controls = [c for c in message if (ord(c) < 32 and c not in "\n\t") or 127 <= ord(c) < 160]
        assert controls == [], repr(message)


def test_a_gzip_body_that_inflates_honestly_is_not_a_bomb(server, client):
    # Very repetitive but honest: a thousand near-identical rows.
    lines = [
        f'{{"model":"testapp.tag","pk":{i},"fields":{{"name":"tag {i:05d}"}}}}'
        for i in range(1, 1001)
    ]
    body = gzip.compress(("[\n" + ",\n".join(lines) + "\n]\n").encode())
    server.routes["/sync/tags"] = gzipped(body)
    client.sync("tags")
    assert Tag.objects.count() == 1000
