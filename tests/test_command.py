"""``manage.py sync_data`` against the live server."""

import io
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from tests.client.test_api import make_blog
from tests.conftest import ROOT, TOKEN, e2e
from tests.testapp.models import Post, Tag


def run(*args, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_data", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@e2e
class TestSyncData:
    def test_several_routes_and_summary(self, live_server_process):
        make_blog()
        out, _ = run("blogs", "sites", endpoint=live_server_process.sync_url, token=TOKEN)
        assert Post.objects.count() == 2
        lines = out.splitlines()
        assert lines[0].split() == ["model", "received", "written", "deleted", "seconds"]
        post_row = next(line.split() for line in lines if line.startswith("testapp.post"))
        assert post_row[1:4] == ["2", "2", "0"]
        models = [line.split()[0] for line in lines[2:6]]
        assert models == ["testapp.author", "testapp.tag", "testapp.blog", "testapp.post"]
        assert next(line for line in lines if line.startswith("sites.site"))
        assert lines[-1].split()[:4] == ["total", "7", "7", "0"]

    def test_clean_dry_run_and_database_options(self, live_server_process):
        make_blog()
        Tag.objects.create(pk=900, name="local")
        out, _ = run(
            "blogs",
            "--clean",
            "--dry-run",
            "--database",
            "default",
            endpoint=live_server_process.sync_url,
            token=TOKEN,
        )
        assert "dry run" in out
        assert list(Tag.objects.values_list("name", flat=True)) == ["local"]

    def test_settings_defaults_are_used(self, live_server_process, settings):
        settings.SYNCTOOL_CLIENT_ENDPOINT = live_server_process.sync_url
        settings.SYNCTOOL_CLIENT_TOKEN = TOKEN
        make_blog()
        out, _ = run("blogs", "--clean", "--no-reset", verbosity=0)
        assert out == ""
        assert Post.objects.count() == 2

    def test_list(self, live_server_process):
        out, _ = run("--list", endpoint=live_server_process.sync_url, token=TOKEN)
        assert "blogs  [models]  testapp.author, testapp.tag, testapp.blog, testapp.post" in out
        assert "(depends on the URL arguments)" in out

    def test_errors_are_one_line(self, live_server_process):
        with pytest.raises(CommandError, match="refused this token") as info:
            run("blogs", endpoint=live_server_process.sync_url, token="wrong-token-xxxxxxxxxx")
        assert "\n" not in str(info.value)
        assert "wrong-token" not in str(info.value)
        with pytest.raises(CommandError, match="name at least one route"):
            run(endpoint=live_server_process.sync_url, token=TOKEN)


def test_failure_exits_1_without_traceback(tmp_path):
    from tests.conftest import free_port

    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=str(ROOT))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "sync_data",
            "blogs",
            "--endpoint",
            f"http://127.0.0.1:{free_port()}/sync/",
            "--token",
            TOKEN,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().startswith("CommandError: could not reach")
    assert TOKEN not in completed.stderr
