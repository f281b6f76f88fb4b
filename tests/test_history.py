"""The history of syncs: shown by ``sync_data --history`` and, read-only, in
the Django admin (rendered by Django's test client in a project with the
admin installed)."""

import datetime
import socket
import subprocess
import sys
import textwrap

import pytest
from django.core.management import CommandError, call_command

from synctool.models import SyncRun
from tests.conftest import ROOT, TOKEN, e2e, free_port
from tests.testapp.models import Tag

ADMIN_SCRIPT = textwrap.dedent(
    """
    import datetime
    import django
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse
    from synctool.models import SyncRun

    call_command("migrate", verbosity=0)
    when = datetime.datetime(2026, 11, 30, 3, 0, tzinfo=datetime.UTC)
    ok = SyncRun.objects.create(
        route="blogs", endpoint="https://example.com/sync/", database="default",
        started=when, finished=when + datetime.timedelta(seconds=1.653092), status="succeeded",
        host="worker-7", origin="celery", task_id="5f0c-task",
        counts={"blog.post": {"received": 7, "written": 7, "deleted": 0}},
        media={"downloaded": 36, "skipped": 2, "failed": 3, "failures": []},
    )
    failed = SyncRun.objects.create(
        route="shop", endpoint="https://example.com/sync/", database="default",
        started=when, finished=when, status="failed", error="could not reach the server",
        counts={"shop.order": {"received": 9, "written": 8, "deleted": 0, "rolled_back": True}},
    )
    User.objects.create_superuser("admin", "admin@example.org", "pw")
    browser = Client()
    browser.force_login(User.objects.get())
    listing = browser.get(reverse("admin:synctool_syncrun_changelist"))
    assert listing.status_code == 200, listing.status_code
    text = listing.content.decode()
    assert "History of syncs" in text and "blogs" in text and "shop" in text, text[:500]
    assert "1.65" in text and "1.653092" not in text  # seconds, rounded
    assert "worker-7" in text and "Celery task" in text, text[:500]
    assert "36 downloaded, 2 skipped, 3 failed" in text, text[:500]
    assert "8 rolled back" in text and ">7<" in text, text[:500]
    detail = browser.get(reverse("admin:synctool_syncrun_change", args=[failed.pk]))
    assert detail.status_code == 200, detail.status_code
    assert "could not reach the server" in detail.content.decode()
    assert "<input type=\\"submit\\" value=\\"Save\\"" not in detail.content.decode()
    assert browser.get(reverse("admin:synctool_syncrun_add")).status_code == 403
    print("admin ok", ok.pk)
    """
)


def test_the_admin_shows_the_history_read_only():
    completed = subprocess.run(
        [sys.executable, "-c", ADMIN_SCRIPT],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "tests.admin_settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "admin ok" in completed.stdout


@e2e
def test_sync_data_history_lists_syncs_newest_first_with_errors(live_server_process, capsys):
    Tag.objects.using("server").create(name="one")
    call_command(
        "sync_data", "tags", endpoint=live_server_process.sync_url, token=TOKEN, verbosity=0
    )
    down = f"http://127.0.0.1:{free_port()}/sync/"
    with pytest.raises(CommandError, match="could not"):
        call_command("sync_data", "tags", endpoint=down, token=TOKEN, verbosity=0)
    capsys.readouterr()
    call_command("sync_data", "--history")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "started", "route", "database", "status", "rows", "bytes", "wire", "seconds", "kind",
        "host", "by",
    ]  # fmt: skip
    assert lines[2].split()[2:5] == ["tags", "default", "failed"]
    assert lines[3].strip().startswith("error: could not")
    assert lines[4].split()[2:5] == ["tags", "default", "succeeded"]
    assert lines[4].split()[5] == "1"
    # Started by the command, on this machine.
    assert lines[4].split()[-2:] == [socket.gethostname(), "command"]
    assert set(SyncRun.objects.values_list("origin", flat=True)) == {"command"}
    assert SyncRun.objects.using("default").count() == 2
    call_command("sync_data", "--history", "--history-limit", "1")
    assert len(capsys.readouterr().out.splitlines()) == 4  # header, rule, one run, its error
    # Any spelling of a route names it.
    call_command("sync_data", "--history", "/tags/")
    assert len(capsys.readouterr().out.splitlines()) == 5  # header, rule, two runs, an error


@pytest.mark.skipif(
    __import__("os").environ.get("SYNCTOOL_TEST_DB", "sqlite") != "sqlite",
    reason="an SQLite file in a folder that does not exist",
)
def test_a_database_that_cannot_be_opened_is_said_so_not_told_to_migrate(
    tmp_path, django_db_blocker
):
    from django.db import connections

    from synctool.client import Client
    from synctool.exceptions import ConfigurationError

    connections.settings["unopenable"] = {
        **connections.settings["default"],
        "NAME": str(tmp_path / "no such folder" / "db.sqlite3"),
    }
    try:
        client = Client(api_url="http://127.0.0.1:9/sync/", api_token=TOKEN)
        with (
            django_db_blocker.unblock(),
            pytest.raises(ConfigurationError, match="db.sqlite3 cannot be used: "),
        ):
            client.sync("blogs", using="unopenable", incremental=True)
    finally:
        connections["unopenable"].close()
        del connections.settings["unopenable"]


@e2e
def test_a_sync_that_failed_before_its_commit_shows_its_rows_as_rolled_back(
    client_for, register_plugin, capsys
):
    from synctool import exceptions, hookimpl
    from tests.testapp.models import Author, Blog, Post

    author = Author.objects.using("server").create(email="a@example.org", name="A")
    blog = Blog.objects.using("server").create(name="b", slug="b", author=author)
    Post.objects.using("server").create(
        blog=blog,
        title="the post that fails",
        views=1,
        created=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )

    class FailOnThePost:
        @hookimpl
        def transform_object(self, obj, side):
            if side == "client" and obj["model"] == "testapp.post":
                raise RuntimeError("the client-side transform failed on purpose")
            return obj

    register_plugin(FailOnThePost())
    with pytest.raises(exceptions.SynctoolError, match="on purpose"):
        client_for().sync("blogs")
    assert not Blog.objects.using("default").exists()
    run = SyncRun.objects.using("default").get()
    assert run.status == "failed" and run.rolled_back
    # How far it got is kept, marked rolled back.
    assert run.counts["testapp.blog"]["received"] == 1
    assert all(entry["rolled_back"] is True for entry in run.counts.values())
    assert run.rows_text == f"{run.rows} rolled back"
    call_command("sync_data", "--history")
    line = capsys.readouterr().out.splitlines()[2]
    assert line.split()[4:8] == ["failed", str(run.rows), "rolled", "back"]


@e2e
def test_a_sync_that_committed_is_not_shown_rolled_back(client_for):
    Tag.objects.using("server").create(name="one")
    client_for().sync("tags")
    run = SyncRun.objects.using("default").get()
    assert not run.rolled_back and run.rows_text == "1"
