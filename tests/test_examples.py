"""The examples of the docs run for real: the seed's Click interface
(example/click_sync.py) and the plugin of docs/plugins.rst
(docs/examples/local_accounts.py), each against a gunicorn server. The code
blocks of README.rst and docs/quickstart.rst: tests/test_doc_blocks.py."""

import datetime
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import override_settings

from tests.conftest import ROOT, e2e, start_server, stop_server
from tests.testapp.models import Author, Blog, Post, Tag

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PLUGIN = "docs.examples.local_accounts"


@pytest.fixture
def server(tmp_path):
    server = start_server(tmp_path, plugins=PLUGIN)
    yield server
    stop_server(server)


def make_blog_on_server(media_root: Path) -> None:
    author = Author.objects.using("server").create(email="ada@example.org", name="Ada")
    blog = Blog.objects.using("server").create(name="Notes", slug="notes", author=author)
    tag = Tag.objects.using("server").create(name="django")
    (media_root / "posts").mkdir(parents=True)
    (media_root / "posts" / "hero.png").write_bytes(PNG)
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)
    for index, image in enumerate(["posts/hero.png", ""]):
        post = Post.objects.using("server").create(
            blog=blog, title=f"post {index}", created=when, hero_image=image
        )
        post.tags.add(tag)


def run_click_example(server, media_root: Path, *args: str) -> subprocess.CompletedProcess:
    database = {
        key: value
        for key, value in connections["default"].settings_dict.items()
        if key in {"ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS"}
    }
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.click_settings",
        PYTHONPATH=str(ROOT),
        SYNCTOOL_E2E_DATABASE=json.dumps(database),
        SYNCTOOL_E2E_MEDIA_ROOT=str(media_root),
        SYNC_API_URL=server.sync_url,
        SYNC_MEDIA_URL=server.base_url + "/media/",
    )
    return subprocess.run(
        [sys.executable, str(ROOT / "example" / "click_sync.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@e2e
def test_click_example_syncs_blogs(tmp_path):
    server = start_server(tmp_path)
    try:
        make_blog_on_server(tmp_path / "server-media")
        local_media = tmp_path / "local-media"
        Tag.objects.create(name="local only")  # removed by --clean

        result = run_click_example(server, local_media, "blogs", "--clean", "--images")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "blogs: 5 objects received, 5 written, 1 deleted" in result.stdout
        assert "images: 1 downloaded, 0 skipped, 0 failed" in result.stdout
        assert list(Tag.objects.values_list("name", flat=True)) == ["django"]
        assert Post.objects.get(title="post 0").created.microsecond == 678901
        assert (local_media / "posts" / "hero.png").read_bytes() == PNG

        # --no-clean keeps local rows; the image is already there.
        Tag.objects.create(name="kept")
        again = run_click_example(server, local_media, "blogs", "--images")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "0 deleted" in again.stdout
        assert "images: 0 downloaded, 1 skipped" in again.stdout
        assert Tag.objects.filter(name="kept").exists()

        usage = run_click_example(server, local_media, "--help")
        assert "A tool for syncing data." in usage.stdout
    finally:
        stop_server(server)


@e2e
def test_documented_plugin_in_a_real_sync(server, client_for, caplog):
    User.objects.db_manager("server").create_user("alice", password="secret-alice")
    User.objects.db_manager("server").create_user("bob", password="b", is_active=False)
    User.objects.db_manager("server").create_user("carol", is_staff=True, is_superuser=True)
    User.objects.create_superuser("root", password="local-root")
    User.objects.create_user("dave")  # local: kept, users are merged by natural key

    plugins = [PLUGIN]
    with override_settings(SYNCTOOL_PLUGINS=plugins), caplog.at_level(logging.INFO, PLUGIN):
        result = client_for(api_url=server.sync_url).sync("users", clean=True)

    usernames = sorted(User.objects.values_list("username", flat=True))
    # Users travel by natural key (the route has natural_keys=True): they are
    # merged by username and never cleaned, so root and dave stay; bob never
    # left the server.
    assert usernames == ["alice", "carol", "dave", "root"]
    assert result.models["auth.user"].received == 2
    for name in ("alice", "carol"):
        user = User.objects.get(username=name)
        assert not user.has_usable_password()  # the hash stayed on the server
        assert not user.is_staff and not user.is_superuser
    root = User.objects.get(username="root")
    assert root.is_superuser and root.check_password("local-root")
    assert "synced 2 users into 'default': alice, carol" in caplog.text
