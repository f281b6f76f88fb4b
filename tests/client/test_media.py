"""Media: names, the built-in HTTP fetch_media, Client.images, sync(images=True)
and sync_data --images.

Files are served by real HTTP servers on 127.0.0.1: a small threaded
http.server in the test process when the server must misbehave (cut the
connection, answer 404 or 5xx, hang), and the e2e gunicorn server.
"""

import gzip
import io
import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import models

from synctool import hookimpl
from synctool.client import Client
from synctool.client.media import (
    MediaCollector,
    MediaDownload,
    UnsafeMediaName,
    check_media_name,
    fetch_media_files,
    media_url_for,
)
from synctool.exceptions import ConfigurationError, ServerUnreachable
from synctool.models import SyncRun
from synctool.plugins import get_plugin_manager
from synctool.result import Progress
from tests.conftest import TOKEN, e2e
from tests.testapp.models import Blog, Post

HERO = Post._meta.get_field("hero_image")


class MediaServer:
    """A threaded HTTP server on 127.0.0.1 serving ``files`` under /media/.

    ``rules[name]`` may replace the default answer: a function
    ``rule(handler, data, attempt)`` called with the request handler, the
    file's bytes (or None) and how many times the name was requested.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.rules = {}
        self.requests: list[str] = []  # raw request paths, as sent
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.release = threading.Event()  # lets hanging handlers finish
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                raw = urlsplit(self.path).path
                name = unquote(raw.removeprefix("/media/"))
                with server.lock:
                    server.requests.append(raw)
                    server.counts[name] = server.counts.get(name, 0) + 1
                    attempt = server.counts[name]
                data = server.files.get(name)
                rule = server.rules.get(name)
                if rule is not None:
                    rule(self, data, attempt)
                elif data is None:
                    self.send_error(404)
                else:
                    send_file(self, data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/media/"

    def start(self) -> "MediaServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def send_file(handler, data: bytes, length=None) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/octet-stream")
    if length is not False:
        handler.send_header("Content-Length", str(len(data) if length is None else length))
    handler.end_headers()
    handler.wfile.write(data)


def cut_after_half(handler, data, attempt):
    """Announce the whole file, send half of it, close the connection."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data[: len(data) // 2])
    handler.wfile.flush()
    handler.connection.shutdown(socket.SHUT_RDWR)
    handler.close_connection = True


@pytest.fixture
def media_server():
    server = MediaServer().start()
    yield server
    server.stop()


@pytest.fixture
def media_root(tmp_path, settings):
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root


def payload(name: str, size: int = 20_000) -> bytes:
    seed = name.encode()
    return (seed * (size // len(seed) + 1))[:size]


def leftovers(root: Path) -> list[str]:
    """Temporary download files left in the storage."""
    return [p.name for p in root.rglob("*") if p.name.startswith(".synctool-")]


# --- names -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../evil.jpg",
        "posts/../../evil.jpg",
        "posts/..",
        "/etc/passwd",
        "C:/windows/evil.jpg",
        "c:evil.jpg",
        "posts\\..\\evil.jpg",
        "posts/evil\x00.jpg",
        "posts/evil\n.jpg",
        "posts/evil\x7f.jpg",
        "posts//evil.jpg",
        "./evil.jpg",
        "posts/",
        "",
    ],
)
def test_unsafe_names_are_refused(name):
    with pytest.raises(UnsafeMediaName, match="refused"):
        check_media_name(name)


@pytest.mark.parametrize(
    "name",
    ["a.jpg", "posts/a b.jpg", "posts/été.png", "posts/50%.jpg", "posts/a#b?.jpg", "x/..a/b..c"],
)
def test_safe_names_pass(name):
    assert check_media_name(name) == name


def test_media_url_quotes_the_name():
    assert media_url_for("http://h/media", "posts/a b#?%.jpg") == (
        "http://h/media/posts/a%20b%23%3F%25.jpg"
    )
    assert media_url_for("http://h/media/", "p/é.jpg") == "http://h/media/p/%C3%A9.jpg"
    assert media_url_for(None, "a.jpg") is None


def test_collector_selects_images_and_files():
    assert MediaCollector(images=True, files=False).fields_of(Post) == [HERO]
    assert MediaCollector(images=False, files=True).fields_of(Post) == []
    assert MediaCollector(images=False, files=False).fields_of(Post) == []
    collector = MediaCollector(images=True)
    collector.collect(Post, [Post(hero_image="posts/a.jpg"), Post(hero_image="")])
    assert collector.items == {(HERO, "posts/a.jpg")}


# --- the built-in HTTP fetch_media ------------------------------------------


def test_downloads_into_the_storage_under_the_exact_quoted_name(media_server, media_root):
    names = ["posts/a b.jpg", "posts/été.png", "posts/50%.jpg", "posts/a#b?.jpg"]
    for name in names:
        media_server.files[name] = payload(name)
    result = fetch_media_files([(HERO, n) for n in names], media_server.url)
    assert result.ok and result.downloaded == 4
    for name in names:
        assert (media_root / name).read_bytes() == payload(name)
    assert sorted(media_server.requests) == sorted(
        [
            "/media/posts/a%20b.jpg",
            "/media/posts/%C3%A9t%C3%A9.png",
            "/media/posts/50%25.jpg",
            "/media/posts/a%23b%3F.jpg",
        ]
    )
    assert leftovers(media_root) == []


def test_existing_files_are_skipped_without_a_request(media_server, media_root):
    (media_root / "posts").mkdir(parents=True)
    (media_root / "posts/old.jpg").write_bytes(b"local copy")
    media_server.files["posts/old.jpg"] = b"server copy"
    media_server.files["posts/new.jpg"] = b"new"
    result = fetch_media_files([(HERO, "posts/old.jpg"), (HERO, "posts/new.jpg")], media_server.url)
    assert (result.downloaded, result.skipped, result.failed) == (1, 1, [])
    assert (media_root / "posts/old.jpg").read_bytes() == b"local copy"
    assert media_server.requests == ["/media/posts/new.jpg"]


def test_partial_download_is_never_left_behind(media_server, media_root, settings):
    settings.SYNCTOOL_RETRIES = 2
    media_server.files["posts/big.jpg"] = payload("big", 300_000)
    media_server.rules["posts/big.jpg"] = cut_after_half
    media_server.files["posts/ok.jpg"] = b"fine"
    result = fetch_media_files([(HERO, "posts/big.jpg"), (HERO, "posts/ok.jpg")], media_server.url)
    assert result.downloaded == 1
    [failure] = result.failed
    assert failure.name == "posts/big.jpg"
    assert "cut" in failure.reason
    assert not (media_root / "posts/big.jpg").exists()
    assert leftovers(media_root) == []
    # Retried from the start, then given up.
    assert media_server.counts["posts/big.jpg"] == 3
    # A later sync does not skip it: it downloads it again, whole this time.
    del media_server.rules["posts/big.jpg"]
    again = fetch_media_files([(HERO, "posts/big.jpg")], media_server.url)
    assert (again.downloaded, again.skipped) == (1, 0)
    assert (media_root / "posts/big.jpg").read_bytes() == payload("big", 300_000)


def test_a_cut_body_is_fetched_again_from_the_start(media_server, media_root):
    data = payload("cut-once", 200_000)
    media_server.files["posts/c.jpg"] = data

    def cut_once(handler, data, attempt):
        if attempt == 1:
            cut_after_half(handler, data, attempt)
        else:
            send_file(handler, data)

    media_server.rules["posts/c.jpg"] = cut_once
    result = fetch_media_files([(HERO, "posts/c.jpg")], media_server.url)
    assert result.ok and result.downloaded == 1
    assert (media_root / "posts/c.jpg").read_bytes() == data
    assert media_server.counts["posts/c.jpg"] == 2


def test_traversal_names_are_refused_per_file(media_server, media_root, tmp_path):
    media_server.files["posts/ok.jpg"] = b"ok"
    bad = ["../evil.jpg", "/tmp/evil.jpg", "posts/../../evil.jpg", "posts\\evil.jpg", "a\x00.jpg"]
    result = fetch_media_files(
        [(HERO, "posts/ok.jpg")] + [(HERO, n) for n in bad], media_server.url
    )
    assert result.downloaded == 1
    assert sorted(f.name for f in result.failed) == sorted(bad)
    assert all(f.reason.startswith("refused:") for f in result.failed)
    assert media_server.requests == ["/media/posts/ok.jpg"]
    assert not (tmp_path / "evil.jpg").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media"]


def test_symlinks_out_of_the_storage_are_refused(media_server, media_root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    media_root.mkdir()
    (media_root / "posts").symlink_to(outside, target_is_directory=True)
    (media_root / "own").mkdir()
    (media_root / "own/link.jpg").symlink_to(outside / "target.jpg")  # dangling
    inside = media_root / "inside"
    inside.mkdir()
    (media_root / "alias").symlink_to(inside, target_is_directory=True)
    for name in ["posts/x.jpg", "own/link.jpg", "alias/y.jpg"]:
        media_server.files[name] = b"data"
    result = fetch_media_files(
        [(HERO, "posts/x.jpg"), (HERO, "own/link.jpg"), (HERO, "alias/y.jpg")], media_server.url
    )
    assert sorted(f.name for f in result.failed) == ["own/link.jpg", "posts/x.jpg"]
    assert all("outside the storage" in f.reason for f in result.failed)
    assert list(outside.iterdir()) == []
    # A link that stays inside the storage is fine.
    assert result.downloaded == 1
    assert (inside / "y.jpg").read_bytes() == b"data"
    assert media_server.requests == ["/media/alias/y.jpg"]


def test_404_is_reported_and_others_still_download(media_server, media_root):
    media_server.files["posts/here.jpg"] = b"here"
    result = fetch_media_files(
        [(HERO, "posts/missing.jpg"), (HERO, "posts/here.jpg")], media_server.url
    )
    assert result.downloaded == 1
    [failure] = result.failed
    assert failure.name == "posts/missing.jpg"
    assert "HTTP 404" in failure.reason and "/media/posts/missing.jpg" in failure.reason
    assert media_server.counts["posts/missing.jpg"] == 1  # a 404 is not retried
    assert not (media_root / "posts/missing.jpg").exists()


def test_5xx_is_retried(media_server, media_root, settings):
    settings.SYNCTOOL_RETRIES = 2
    media_server.files["posts/flaky.jpg"] = b"flaky"
    media_server.files["posts/broken.jpg"] = b"broken"

    def flaky(handler, data, attempt):
        if attempt <= 2:
            handler.send_error(503)
        else:
            send_file(handler, data)

    media_server.rules["posts/flaky.jpg"] = flaky
    media_server.rules["posts/broken.jpg"] = lambda handler, data, attempt: handler.send_error(500)
    result = fetch_media_files(
        [(HERO, "posts/flaky.jpg"), (HERO, "posts/broken.jpg")], media_server.url
    )
    assert result.downloaded == 1
    assert (media_root / "posts/flaky.jpg").read_bytes() == b"flaky"
    [failure] = result.failed
    assert "HTTP 500 (after 2 retries)" in failure.reason
    assert media_server.counts == {"posts/flaky.jpg": 3, "posts/broken.jpg": 3}


def test_connection_refused_is_reported(media_root, settings):
    settings.SYNCTOOL_RETRIES = 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens there once closed
    result = fetch_media_files([(HERO, "posts/a.jpg")], f"http://127.0.0.1:{port}/media/")
    [failure] = result.failed
    assert f"127.0.0.1:{port}/media/posts/a.jpg" in failure.reason
    assert not (media_root / "posts/a.jpg").exists()


def test_a_server_that_stops_answering_times_out(media_server, media_root, settings):
    settings.SYNCTOOL_TIMEOUT = (5, 0.2)
    settings.SYNCTOOL_RETRIES = 1
    media_server.files["posts/slow.jpg"] = b"slow"
    media_server.rules["posts/slow.jpg"] = lambda handler, data, attempt: media_server.release.wait(
        30
    )
    result = fetch_media_files([(HERO, "posts/slow.jpg")], media_server.url)
    [failure] = result.failed
    assert "no answer within 0.2 s" in failure.reason
    assert media_server.counts["posts/slow.jpg"] == 2
    assert not (media_root / "posts/slow.jpg").exists()
    assert leftovers(media_root) == []


def test_a_file_trickling_within_the_read_timeout_hits_the_media_deadline(
    media_server, media_root, settings
):
    settings.SYNCTOOL_TIMEOUT = (5, 5)
    settings.SYNCTOOL_MEDIA_TIMEOUT = 0.5
    settings.SYNCTOOL_RETRIES = 0
    data = payload("drip", 200)

    def drip(handler, data, attempt):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        for byte in data:
            if media_server.release.wait(0.05):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    media_server.files["posts/drip.jpg"] = data
    media_server.rules["posts/drip.jpg"] = drip
    media_server.files["posts/quick.jpg"] = payload("quick")
    result = fetch_media_files(
        [(HERO, "posts/drip.jpg"), (HERO, "posts/quick.jpg")], media_server.url
    )
    [failure] = result.failed
    assert "took longer than SYNCTOOL_MEDIA_TIMEOUT (0.5 s); stopped" in failure.reason
    assert result.downloaded == 1
    assert not (media_root / "posts/drip.jpg").exists()
    assert leftovers(media_root) == []


def test_announced_size_over_the_limit_is_refused(media_server, media_root, settings):
    settings.SYNCTOOL_MEDIA_MAX_BYTES = 10_000
    media_server.files["posts/huge.jpg"] = payload("huge", 10_001)
    media_server.files["posts/fits.jpg"] = payload("fits", 10_000)
    result = fetch_media_files(
        [(HERO, "posts/huge.jpg"), (HERO, "posts/fits.jpg")], media_server.url
    )
    assert result.downloaded == 1
    [failure] = result.failed
    assert "is 10001 bytes, more than SYNCTOOL_MEDIA_MAX_BYTES (10000)" in failure.reason
    assert not (media_root / "posts/huge.jpg").exists()
    assert media_server.counts["posts/huge.jpg"] == 1


def send_gzip(handler, data, attempt):
    body = gzip.compress(data)
    handler.send_response(200)
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_body_over_the_limit_is_stopped(media_server, media_root, settings):
    settings.SYNCTOOL_MEDIA_MAX_BYTES = 100_000
    data = bytes(1_000_000)
    # No Content-Length at all; and a small gzip body that inflates past the limit.
    media_server.files["posts/stream.jpg"] = data
    media_server.rules["posts/stream.jpg"] = lambda h, d, a: send_file(h, d, length=False)
    media_server.files["posts/bomb.svg"] = data
    media_server.rules["posts/bomb.svg"] = send_gzip
    media_server.files["posts/small.svg"] = payload("small", 50_000)
    media_server.rules["posts/small.svg"] = send_gzip
    result = fetch_media_files(
        [(HERO, "posts/stream.jpg"), (HERO, "posts/bomb.svg"), (HERO, "posts/small.svg")],
        media_server.url,
    )
    assert result.downloaded == 1
    assert (media_root / "posts/small.svg").read_bytes() == payload("small", 50_000)
    reasons = {f.name: f.reason for f in result.failed}
    assert set(reasons) == {"posts/stream.jpg", "posts/bomb.svg"}
    for reason in reasons.values():
        assert "more than SYNCTOOL_MEDIA_MAX_BYTES (100000 bytes); stopped" in reason
    assert not (media_root / "posts/stream.jpg").exists()
    assert not (media_root / "posts/bomb.svg").exists()
    assert leftovers(media_root) == []


def test_parallel_download_of_200_files(media_server, media_root, settings):
    settings.SYNCTOOL_MEDIA_WORKERS = 8
    names = [f"posts/{i:03d}.jpg" for i in range(200)]
    for name in names:
        media_server.files[name] = payload(name, 5_000)
    # The first four requests only get their answer once all four are in
    # flight together: a sequential client would break the barrier.
    barrier = threading.Barrier(4, timeout=20)
    broken = []

    def together(handler, data, attempt):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            broken.append(handler.path)
        send_file(handler, data)

    for name in names[:4]:
        media_server.rules[name] = together
    seen = []
    result = fetch_media_files([(HERO, n) for n in names], media_server.url, progress=seen.append)
    assert (result.downloaded, result.skipped, result.failed) == (200, 0, [])
    assert broken == []
    for name in names:
        assert (media_root / name).read_bytes() == payload(name, 5_000)
    assert len(media_server.requests) == 200
    # The step's start, each file, the end (with its time).
    assert seen[0] == Progress("media", "", 0, total=200)
    assert sorted(p.count for p in seen[1:-1]) == list(range(1, 201))
    assert {(p.model, p.total) for p in seen[1:-1]} == {("testapp.post", 200)}
    assert seen[-1].done and seen[-1].count == 200 and seen[-1].seconds > 0
    assert leftovers(media_root) == []


def test_same_name_twice_in_one_storage_is_fetched_once(media_server, media_root):
    media_server.files["posts/a.jpg"] = b"a"
    twin = models.ImageField(storage=HERO.storage)  # another field on the same storage
    twin.model = Post
    result = fetch_media_files([(HERO, "posts/a.jpg"), (twin, "posts/a.jpg")], media_server.url)
    assert (result.downloaded, result.failed) == (1, [])
    assert media_server.requests == ["/media/posts/a.jpg"]


def test_a_file_written_meanwhile_is_kept(tmp_path):
    storage = FileSystemStorage(location=tmp_path)
    with MediaDownload(storage, "posts/a.jpg", what="test") as download:
        download.write_all([b"ours"])
        (tmp_path / "posts").mkdir()
        (tmp_path / "posts/a.jpg").write_bytes(b"theirs")
        download.save()
    assert (tmp_path / "posts/a.jpg").read_bytes() == b"theirs"
    assert sorted(os.listdir(tmp_path / "posts")) == ["a.jpg"]
    assert leftovers(tmp_path) == []


def test_a_complete_download_is_renamed_into_place(tmp_path, settings):
    settings.FILE_UPLOAD_PERMISSIONS = 0o644
    storage = FileSystemStorage(location=tmp_path / "m")
    with MediaDownload(storage, "posts/a.jpg", what="test") as download:
        download.write_all([b"abc", b"def"])
        temporary = Path(download.file.name)
        assert temporary.parent == (tmp_path / "m") and temporary.name.endswith(".part")
        download.save()
        assert not temporary.exists()  # moved, not copied
    assert (tmp_path / "m/posts/a.jpg").read_bytes() == b"abcdef"
    assert (tmp_path / "m/posts/a.jpg").stat().st_mode & 0o777 == 0o644


# --- Client.images -----------------------------------------------------------


def make_posts(names, using="default"):
    blog = Blog.objects.using(using).create(name="media", slug=f"media-{uuid.uuid4().hex[:8]}")
    created = datetime(2024, 1, 1, tzinfo=UTC)
    return blog, [
        Post.objects.using(using).create(blog=blog, title=f"p{i}", created=created, hero_image=n)
        for i, n in enumerate(names)
    ]


@pytest.mark.django_db
def test_client_images_skips_empty_names(media_server, media_root):
    make_posts(["posts/one.jpg", "", "posts/two.jpg", "posts/one.jpg"])
    media_server.files["posts/one.jpg"] = b"1"
    media_server.files["posts/two.jpg"] = b"2"
    client = Client(media_url=media_server.url)
    result = client.images(Post.objects.all(), "hero_image")
    assert (result.downloaded, result.skipped, result.failed) == (2, 0, [])
    assert sorted(media_server.requests) == ["/media/posts/one.jpg", "/media/posts/two.jpg"]
    again = client.images(Post.objects.all(), "hero_image")
    assert (again.downloaded, again.skipped) == (0, 2)
    assert len(media_server.requests) == 2


@pytest.mark.django_db
def test_client_images_needs_a_file_field_and_a_media_url(settings):
    settings.SYNCTOOL_MEDIA_URL = None
    with pytest.raises(ConfigurationError, match="not a FileField"):
        Client(media_url="http://x/").images(Post.objects.all(), "title")
    with pytest.raises(ConfigurationError, match="no media URL"):
        Client().images(Post.objects.all(), "hero_image")


class WritesEverything:
    """A fetch_media plugin that needs no URL."""

    @hookimpl
    def fetch_media(self, name, url, storage):
        assert url is None
        storage.save(name, io.BytesIO(b"from the plugin"))
        return True


@pytest.mark.django_db
def test_a_plugin_may_fetch_without_a_media_url(media_root, settings):
    settings.SYNCTOOL_MEDIA_URL = None
    make_posts(["posts/p.jpg"])
    manager = get_plugin_manager()
    plugin = WritesEverything()
    manager.register(plugin)
    try:
        result = Client().images(Post.objects.all(), "hero_image")
    finally:
        manager.unregister(plugin)
    assert (result.downloaded, result.failed) == (1, [])
    assert (media_root / "posts/p.jpg").read_bytes() == b"from the plugin"


# --- end to end: the gunicorn server ----------------------------------------


def png_bytes(color) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def server_media_root(live_server_process) -> Path:
    # start_server() serves MEDIA_ROOT from <its tmp_path>/server-media.
    return live_server_process.log_path.parent / "server-media"


@e2e
def test_sync_images_downloads_the_images_of_the_synced_posts(
    live_server_process, client_for, media_root
):
    tag = uuid.uuid4().hex[:8]
    names = [f"posts/e2e-{tag}-red.png", f"posts/e2e-{tag}-blue.png"]
    served = server_media_root(live_server_process)
    (served / "posts").mkdir(parents=True, exist_ok=True)
    for name, color in zip(names, ["red", "blue"], strict=True):
        (served / name).write_bytes(png_bytes(color))
    blog, _ = make_posts([*names, ""], using="server")
    client = client_for(media_url=live_server_process.base_url + "/media/")
    result = client.sync(f"blog/{blog.slug}", images=True)
    assert result.counts("testapp.post").written == 3
    assert (result.media.downloaded, result.media.skipped, result.media.failed) == (2, 0, [])
    for name in names:
        assert (media_root / name).read_bytes() == (served / name).read_bytes()
    again = client.sync(f"blog/{blog.slug}", images=True)
    assert (again.media.downloaded, again.media.skipped) == (0, 2)
    # images=False fetches nothing.
    (media_root / names[0]).unlink()
    assert client.sync(f"blog/{blog.slug}").media is None
    assert not (media_root / names[0]).exists()


@e2e
def test_an_error_after_the_commit_says_the_rows_are_committed(
    live_server_process, client_for, media_root
):
    """Media are fetched after the commit: an error raised then (here by the
    progress callback) leaves the rows in place, and says so, so that a task
    never retries a sync whose data is already there."""
    name = f"posts/e2e-{uuid.uuid4().hex[:8]}-late.png"
    served = server_media_root(live_server_process)
    (served / "posts").mkdir(parents=True, exist_ok=True)
    (served / name).write_bytes(png_bytes("red"))
    blog, _ = make_posts([name], using="server")

    def progress(report: Progress) -> None:
        if report.stage == "media":
            raise ServerUnreachable("the media server went away")

    client = client_for(media_url=live_server_process.base_url + "/media/")
    with pytest.raises(ServerUnreachable) as raised:
        client.sync(f"blog/{blog.slug}", images=True, progress=progress)
    assert raised.value.committed is True
    assert Post.objects.using("default").filter(blog__slug=blog.slug).count() == 1


@e2e
def test_sync_data_images_reports_failures_with_exit_status_1(
    live_server_process, media_root, capsys
):
    from synctool.management.commands.sync_data import Command

    tag = uuid.uuid4().hex[:8]
    present, missing = f"posts/e2e-{tag}-here.png", f"posts/e2e-{tag}-missing.png"
    served = server_media_root(live_server_process)
    (served / "posts").mkdir(parents=True, exist_ok=True)
    (served / present).write_bytes(png_bytes("green"))
    blog, _ = make_posts([present, missing], using="server")
    argv = [
        "manage.py",
        "sync_data",
        f"blog/{blog.slug}",
        "--images",
        "--endpoint",
        live_server_process.sync_url,
        "--token",
        TOKEN,
        "--media-url",
        live_server_process.base_url + "/media/",
    ]
    with pytest.raises(SystemExit) as exit_info:
        Command().run_from_argv(argv)
    assert exit_info.value.code == 1
    out, err = capsys.readouterr()
    assert f"media blog/{blog.slug}: 1 downloaded, 0 skipped, 1 failed" in out
    assert f"media failed: 1 file(s): answered HTTP 404: {missing}" in err
    assert "--media-url" in err  # the way to point at the right media server
    assert "1 media file(s) could not be fetched" in err
    # The rows stay committed; the present file arrived.
    assert Post.objects.filter(blog__slug=blog.slug).count() == 2
    assert (media_root / present).read_bytes() == (served / present).read_bytes()
    # The history keeps the media step beside the committed rows.
    run = SyncRun.objects.using("default").order_by("-id").first()
    assert (run.status, run.media["downloaded"], run.media["failed"]) == ("succeeded", 1, 1)
    assert run.media["failures"][0]["name"] == missing
    call_command("sync_data", "--history", "--history-limit", "1")
    shown = capsys.readouterr().out
    assert f"media: 1 downloaded, 1 failed ({missing}: " in shown, shown
    # call_command raises the same error as a CommandError.
    with pytest.raises(CommandError, match="1 media file"):
        call_command(*argv[1:])
