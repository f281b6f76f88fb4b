"""Security: who gets in, what leaks, where files land.

test_routing.py checks the token rules on one route in process; here every
view of the test URLconf is tried, the token comparison is spied on, the
logs of a real gunicorn server and of the client are searched for the token,
and media names, links and sizes are attacked end to end.
"""

import base64
import http.client
import logging
import os
import re
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver
from django.views.debug import ExceptionReporter

import synctool.server.auth
from synctool import exceptions
from synctool.client import Client
from synctool.client.media import fetch_media_files
from tests import fault_server
from tests.conftest import TOKEN, e2e, free_port, start_server, stop_server
from tests.tcp_proxy import CuttingProxy
from tests.testapp.models import Author, Blog, Post
from tests.utils import ScriptedServer, answer

ROTATED = "new-token-0123456789abc"  # noqa: S105 - tests/urls.py's rotated route
WRONG = "wrong-but-secret-token-42"  # noqa: S105
HERO = Post._meta.get_field("hero_image")
MARKER = "SECRET-ROW-MARKER"


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def secrets_of(token: str) -> list[str]:
    """The forms a token could leak in: itself and its Basic header value."""
    return [token, base64.b64encode(f"{token}:".encode()).decode()]


def assert_no_token(text: str, *tokens: str) -> None:
    for token in tokens or (TOKEN,):
        for secret in secrets_of(token):
            assert secret not in text, f"{secret!r} leaked"


# --- every view of the URLconf ---------------------------------------------


def synctool_urls():
    """(url, token) for the index and every route of the test URLconf.

    URL groups are filled with "1", which every test route accepts.
    """
    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            regex = str(pattern.pattern)
            part = re.sub(r"\((?:\?P<\w+>)?[^)]*\)", "1", regex)
            part = part.replace("^", "").replace("$", "").replace("/?", "")
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + part)
            elif isinstance(pattern, URLPattern) and is_synctool_view(pattern.callback):
                url = "/" + prefix + part
                found.append((url, ROTATED if url.startswith("/rotated/") else TOKEN))

    walk(get_resolver().url_patterns, "")
    return found


def is_synctool_view(callback) -> bool:
    return hasattr(callback, "synctool_entry") or callback.__qualname__.startswith("index_view")


SYNCTOOL_URLS = synctool_urls()
MISCONFIGURED = {"/sync/customers-following-nothing"}
BAD_CREDENTIALS = {
    "none": None,
    "wrong token": basic(WRONG),
    "empty token": basic(""),
    "token as the password": basic("", TOKEN),
    "not base64": "Basic %%%" + TOKEN,
    "wrong bearer": "Bearer " + WRONG,
    "unknown scheme": "Token " + TOKEN,
    "huge": basic(TOKEN + "x" * 5000),
}


def test_the_enumeration_finds_every_route():
    urls = [url for url, _ in SYNCTOOL_URLS]
    assert len(urls) == len(set(urls)) > 20
    for expected in ("/sync/", "/sync/blogs", "/sync/blog/1", "/settings-sync/", "/rotated/"):
        assert expected in urls


@pytest.fixture
def marked_rows(db):
    author = Author.objects.create(email="marker@example.org", name=MARKER)
    Blog.objects.create(name=MARKER, slug="marker", author=author)


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "token"), SYNCTOOL_URLS)
def test_every_view_answers_the_right_token_only(client, marked_rows, url, token):
    # A route misconfigured on purpose (a follow path its model lacks) says
    # so with 500, to the right token only.
    served = 500 if url in MISCONFIGURED else 200
    assert client.get(url, HTTP_AUTHORIZATION=basic(token)).status_code == served, url
    assert client.head(url, HTTP_AUTHORIZATION="Bearer " + token).status_code == served, url
    for name, header in BAD_CREDENTIALS.items():
        headers = {} if header is None else {"HTTP_AUTHORIZATION": header}
        for method in (client.get, client.head):
            response = method(url, **headers)
            assert response.status_code == 401, (url, name, method)
            assert response["WWW-Authenticate"].startswith("Basic")
            assert not response.has_header("X-Synctool-Models"), (url, name)
            assert MARKER.encode() not in response.content
    for method in ("post", "put", "patch", "delete", "options", "trace"):
        response = getattr(client, method)(url, HTTP_AUTHORIZATION=basic(token))
        assert response.status_code == 405, (url, method)
        assert MARKER.encode() not in response.content


@pytest.mark.django_db(transaction=True, databases=["default", "server"])
def test_a_server_without_token_refuses_every_view(tmp_path):
    Author.objects.using("server").create(email="m@example.org", name=MARKER)
    server = start_server(tmp_path, extra_env={"SYNCTOOL_E2E_NO_TOKEN": "1"}, workers=1)
    try:
        with requests.Session() as session:
            for url, token in SYNCTOOL_URLS:
                if url.startswith("/rotated/"):
                    continue  # its Route carries its own tokens
                for auth in (None, (token, "")):
                    response = session.get(server.base_url + url, auth=auth, timeout=30)
                    assert response.status_code == 403, url
                    assert "no API token is configured" in response.text
                    assert MARKER not in response.text
    finally:
        stop_server(server)


def test_constant_time_comparison_of_every_token(client, db, monkeypatch):
    calls = []
    real = synctool.server.auth.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(synctool.server.auth.hmac, "compare_digest", spy)
    old, new = b"old-token-0123456789abc", ROTATED.encode()
    for presented, status in [(old, 200), (new, 200), (WRONG.encode(), 401)]:
        calls.clear()
        response = client.get("/rotated/sites", HTTP_AUTHORIZATION=basic(presented.decode()))
        assert response.status_code == status
        # Both tokens are compared, even after a match: no short-circuit.
        assert calls == [(presented, old), (presented, new)]
    calls.clear()
    client.get("/sync/blogs", HTTP_AUTHORIZATION="Bearer " + WRONG)
    assert calls == [(WRONG.encode(), TOKEN.encode())]


# --- route paths --------------------------------------------------------------


def test_a_route_regex_cannot_reach_other_views():
    """Route paths are regular expressions: an alternation or a prefix must not
    make a route answer URLs outside its own."""
    from django.urls import include, re_path

    from synctool.server.routing import Route

    route = Route(api_token=TOKEN)
    route.models("blogs|posts", "testapp.Blog")
    route.models("tags", "testapp.Tag")

    def other(request):
        return None

    class URLConf:
        urlpatterns = [
            re_path(r"^sync/", include(route.urlpatterns)),
            # Included at the root too, without the index and the last pattern (which
            # answers everything else under the routes' own prefix).
            re_path(r"^", include(route.urlpatterns[1:-1])),
            re_path(r"^admin/posts$", other),
            re_path(r"^admin/tags/$", other),
        ]

    resolver = get_resolver(URLConf)
    for url in ("/sync/blogs", "/sync/posts/", "/sync/tags", "/blogs", "/tags/"):
        assert resolver.resolve(url).func.synctool_entry, url
    for url in ("/admin/posts", "/admin/tags/"):
        assert resolver.resolve(url).func is other, url
    for url in ("/sync/xposts", "/sync/blogsx", "/sync/admin/posts", "/sync/tags/../admin/posts"):
        # Under the prefix: the catch-all (401 without a token, else 404), never a route.
        assert resolver.resolve(url).url_name == "synctool_unknown", url
    for url in ("/xposts", "/admin/postsx"):
        with pytest.raises(Resolver404):
            resolver.resolve(url)


def raw_get(base_url: str, path: str, token: str = TOKEN) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..``)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.putheader("Authorization", basic(token))
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True, databases=["default", "server"])
def test_paths_through_the_sync_prefix_do_not_reach_other_views(live_server_process):
    secret = b"TOP-SECRET-" + uuid.uuid4().hex.encode()
    served = live_server_process.log_path.parent / "server-media"
    served.mkdir(exist_ok=True)
    (served / "secret.txt").write_bytes(secret)
    base = live_server_process.base_url
    # The file is there, for anyone asking /media/ directly.
    assert raw_get(base, "/media/secret.txt") == (200, secret)
    for path in [
        "/sync/../media/secret.txt",
        "/sync/%2e%2e/media/secret.txt",
        "/sync/blogs/../../media/secret.txt",
        "/sync/blogs/..%2f..%2fmedia%2fsecret.txt",
        "/sync/blog/..%2f..%2fmedia%2fsecret.txt",
        "/sync/blog/..%252f..%252fmedia%252fsecret.txt",
        "/sync//media/secret.txt",
        "/sync/media/secret.txt",
        "/sync/blogs%00/../../media/secret.txt",
        "/sync/posts-of-blog/1/../../../media/secret.txt",
    ]:
        status, body = raw_get(base, path)
        assert secret not in body, path
        # 404, or the blog/<slug> route answering for a slug full of "%2f".
        assert status == 404 or (status == 200 and body.startswith(b"[\n]")), (path, status)


# --- tokens in logs and messages ------------------------------------------------


def everything_said(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


@e2e
def test_client_logs_and_errors_never_show_the_token(live_server_process, caplog, settings):
    settings.SYNCTOOL_RETRIES = 2
    caplog.set_level(logging.DEBUG)
    base = live_server_process.base_url
    texts = []
    Client(api_url=base + "/sync/", api_token=TOKEN).sync("blogs")
    with CuttingProxy(base) as proxy:
        proxy.canned = [b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"]
        proxy.cut_after = 5  # then cut the real answer
        attempts = [
            (Client(api_url=base + "/sync/", api_token=WRONG), "blogs"),
            (Client(api_url=proxy.url + "/sync/", api_token=TOKEN), "blogs"),
            (Client(api_url=f"http://127.0.0.1:{free_port()}/sync/", api_token=TOKEN), "blogs"),
            (Client(api_url=base + "/sync/", api_token=TOKEN), "no-such-route"),
        ]
        for client, route in attempts:
            with pytest.raises(exceptions.SynctoolError) as info:
                client.sync(route)
            texts += [everything_said(info.value), repr(client)]
    assert len(caplog.records) > 5  # urllib3 did log its connections and retries
    assert_no_token(caplog.text + "".join(texts), TOKEN, WRONG)


@pytest.fixture(scope="module")
def logged_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """The fault server with gunicorn's access log (default format) and debug logs."""
    server = fault_server.start(
        tmp_path_factory.mktemp("logged"),
        gunicorn_args="--access-logfile - --log-level debug",
    )
    yield server
    stop_server(server)


@e2e
def test_server_logs_never_show_a_bearer_token_or_a_refused_one(logged_server):
    blog = Blog.objects.using("server").create(name="b", slug="b")
    Post.objects.using("server").create(
        blog=blog, title="BOOM-ON-SERVER", created=datetime.now(UTC)
    )
    url = logged_server.sync_url
    with requests.Session() as session:
        bearer = {"Authorization": "Bearer " + TOKEN}
        assert session.get(url + "sites", headers=bearer, timeout=30).status_code == 200
        assert session.head(url + "sites", headers=bearer, timeout=30).status_code == 200
        assert session.get(url, headers=bearer, timeout=30).status_code == 200
        assert session.post(url + "sites", headers=bearer, timeout=30).status_code == 405
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            session.get(url + "blogs", headers=bearer, timeout=30).content  # noqa: B018
        # Not Basic with a user name: gunicorn logs that (see the xfail below).
        for header in ("Bearer " + WRONG, "Bearer " + TOKEN + "x", basic("", TOKEN), "Basic !"):
            response = session.get(url + "blogs", headers={"Authorization": header}, timeout=30)
            assert response.status_code == 401
    log = logged_server.log()
    assert '"GET /sync/sites HTTP/1.1" 200' in log  # the access log is on
    assert "the server-side transform failed on purpose" in log  # so are the error logs
    assert_no_token(log, TOKEN, WRONG)


@e2e
def test_server_access_log_never_shows_the_token_the_client_sends(logged_server, client_for):
    client_for(api_url=logged_server.sync_url).sync("sites")
    with pytest.raises(exceptions.AuthenticationFailed):
        client_for(token=WRONG, api_url=logged_server.sync_url).sync("sites")
    assert '"GET /sync/sites HTTP/1.1" 200' in logged_server.log()
    assert_no_token(logged_server.log(), TOKEN, WRONG)


def test_django_error_reports_hide_the_authorization_header(rf: RequestFactory, settings):
    settings.SYNCTOOL_CLIENT_TOKEN = WRONG
    request = rf.get("/sync/blogs", HTTP_AUTHORIZATION=basic(TOKEN))
    try:
        raise RuntimeError("a route function failed")
    except RuntimeError as exc:
        reporter = ExceptionReporter(request, type(exc), exc, exc.__traceback__)
        report = reporter.get_traceback_text() + reporter.get_traceback_html()
    assert "HTTP_AUTHORIZATION" in report
    assert_no_token(report, TOKEN, WRONG)


# --- tokens embedded in the URL -------------------------------------------------


@e2e
def test_a_token_in_api_url_works_and_is_masked(live_server_process, settings, caplog):
    settings.SYNCTOOL_RETRIES = 0
    caplog.set_level(logging.DEBUG)
    host = live_server_process.base_url.removeprefix("http://")
    # The URL's user name is the token, with or without a password part.
    texts = []
    for api_url in (f"http://{TOKEN}:@{host}/sync/", f"http://{TOKEN}@{host}/sync/"):
        client = Client(api_url=api_url)
        result = client.sync("sites")
        texts += [result.url, repr(client), str(result)]
    for api_url in (
        f"http://{WRONG}:@{host}/sync/",
        f"http://{WRONG}:{TOKEN}@{host}/sync/",
        f"http://{TOKEN}@127.0.0.1:{free_port()}/sync/",
    ):
        with pytest.raises(exceptions.SynctoolError) as info:
            Client(api_url=api_url).sync("sites")
        texts.append(everything_said(info.value))
    assert_no_token("\n".join(texts) + caplog.text, TOKEN, WRONG)


@e2e
def test_sync_data_masks_a_token_in_the_endpoint(live_server_process, capsys):
    host = live_server_process.base_url.removeprefix("http://")
    endpoint = f"http://{TOKEN}:@{host}/sync/"
    call_command("sync_data", "--list", "--endpoint", endpoint)
    call_command("sync_data", "sites", "--endpoint", endpoint)
    with pytest.raises(CommandError) as info:
        call_command("sync_data", "nope", "--endpoint", f"http://{WRONG}:@{host}/sync/")
    out, err = capsys.readouterr()
    assert "sites" in out
    assert_no_token(out + err + str(info.value), TOKEN, WRONG)


@pytest.mark.django_db  # the sync's history record
def test_a_redirect_to_another_origin_does_not_carry_the_token():
    seen = []

    def record(handler):
        seen.append(handler.headers.get("Authorization"))
        answer(401, b"", "text/plain")(handler)

    with ScriptedServer() as other, ScriptedServer() as first:
        other.routes["/sync/blogs"] = record
        first.routes["/sync/blogs"] = answer(302, headers={"Location": other.url + "/sync/blogs"})
        for client in (
            Client(api_url=first.url + "/sync/", api_token=TOKEN),
            Client(api_url=first.url.replace("//", f"//{TOKEN}:@") + "/sync/"),
        ):
            with pytest.raises(exceptions.RedirectRefused, match="another server: refused"):
                client.sync("blogs")
    assert seen == []  # the other origin was never asked


# --- media ------------------------------------------------------------------------


@pytest.fixture
def media_root(tmp_path, settings):
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@e2e
def test_unsafe_media_names_from_the_server_are_refused(
    live_server_process, client_for, media_root, tmp_path
):
    tag = uuid.uuid4().hex[:8]
    absolute = Path(f"/tmp/synctool-evil-{tag}.png")
    served = live_server_process.log_path.parent / "server-media"
    (served / "posts").mkdir(parents=True, exist_ok=True)
    (served / f"posts/ok-{tag}.png").write_bytes(b"ok")
    unsafe = [
        f"../evil-{tag}.png",
        f"posts/../../evil-{tag}.png",
        str(absolute),
        f"posts\\..\\..\\evil-{tag}.png",
        f"posts/evil-{tag}\n.png",
        f"./posts/evil-{tag}.png",
    ]
    # Literal "%2e" segments; a 282-byte file name (100 characters, the column's limit).
    odd = [f"posts/%2e%2e/%2e%2e/evil-{tag}.png", "posts/" + "€" * 94]
    blog = Blog.objects.using("server").create(name="m", slug=f"m-{tag}")
    for index, name in enumerate([f"posts/ok-{tag}.png", *unsafe, *odd]):
        Post.objects.using("server").create(
            blog=blog, title=f"p{index}", created=datetime.now(UTC), hero_image=name
        )
    client = client_for(media_url=live_server_process.base_url + "/media/")
    result = client.sync(f"blog/{blog.slug}", images=True)
    assert Post.objects.count() == 9  # the rows are committed
    assert result.media.downloaded == 1
    reasons = {failure.name: failure.reason for failure in result.media.failed}
    assert set(reasons) == set(unsafe + odd)
    assert all(reasons[name].startswith("refused:") for name in unsafe)
    assert tree(media_root) == ["posts", f"posts/ok-{tag}.png"]
    assert not absolute.exists()
    assert not any(p.name.startswith("evil") for p in tmp_path.parent.rglob(f"*evil-{tag}*"))


def huge_length(length: str, body: bytes = b"tiny"):
    def respond(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", length)
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
        handler.close_connection = True

    return respond


@pytest.mark.parametrize(
    ("length", "limit", "reason"),
    [
        (str(10**18), "default", "is 1000000000000000000 bytes, more than SYNCTOOL_MEDIA_MAX"),
        (str(2**64 + 1), "default", "more than SYNCTOOL_MEDIA_MAX_BYTES"),
        (str(10**18), None, "IncompleteRead(4 bytes read"),
        ("-1", "default", "got 4 of -1 bytes"),
    ],
)
def test_an_enormous_or_negative_content_length_is_refused(
    media_root, settings, length, limit, reason
):
    settings.SYNCTOOL_RETRIES = 1
    settings.SYNCTOOL_RETRY_BACKOFF = 0
    if limit is None:
        settings.SYNCTOOL_MEDIA_MAX_BYTES = None
    with ScriptedServer() as server:
        server.routes["/media/posts/huge.png"] = huge_length(length)
        result = fetch_media_files([(HERO, "posts/huge.png")], server.url + "/media/")
    [failure] = result.failed
    assert reason in failure.reason
    assert not media_root.exists() or tree(media_root) == []


def test_a_link_to_an_existing_file_outside_is_neither_skipped_nor_followed(media_root, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    (media_root / "posts").mkdir(parents=True)
    (media_root / "posts/link.png").symlink_to(outside)
    with ScriptedServer() as server:
        server.routes["/media/posts/link.png"] = answer(
            body=b"overwritten", content_type="image/png"
        )
        result = fetch_media_files([(HERO, "posts/link.png")], server.url + "/media/")
        assert server.requests == []
    [failure] = result.failed
    assert "outside the storage" in failure.reason
    assert result.skipped == 0
    assert outside.read_bytes() == b"precious"


def test_a_link_swapped_in_during_the_download_is_caught_before_saving(media_root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (media_root / "posts").mkdir(parents=True)

    def swap_then_send(handler):
        # While the file downloads, posts/ becomes a link out of the storage.
        os.rmdir(media_root / "posts")
        os.symlink(outside, media_root / "posts")
        answer(body=b"payload", content_type="image/png")(handler)

    with ScriptedServer() as server:
        server.routes["/media/posts/swap.png"] = swap_then_send
        result = fetch_media_files([(HERO, "posts/swap.png")], server.url + "/media/")
    [failure] = result.failed
    assert "outside the storage" in failure.reason
    assert list(outside.iterdir()) == []
    assert tree(media_root) == ["posts"]  # the link; no temporary file left


def test_a_media_root_that_is_itself_a_link_works(tmp_path, settings):
    real = tmp_path / "real-media"
    real.mkdir()
    (tmp_path / "media").symlink_to(real, target_is_directory=True)
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with ScriptedServer() as server:
        server.routes["/media/posts/a.png"] = answer(body=b"a", content_type="image/png")
        result = fetch_media_files([(HERO, "posts/a.png")], server.url + "/media/")
    assert (result.downloaded, result.failed) == (1, [])
    assert (real / "posts/a.png").read_bytes() == b"a"
