"""``manage.py sync_data`` against the live server."""

import io
import json
import os
import re
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from synctool import hookimpl
from tests.client.test_api import make_blog
from tests.conftest import ROOT, TOKEN, e2e
from tests.terminal import render
from tests.testapp.models import Post, Tag


def run(*args, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_data", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@e2e
class TestSyncData:
    def test_several_routes_and_summary(self, live_server_process):
        make_blog()
        out, err = run("blogs", "blog/blog", endpoint=live_server_process.sync_url, token=TOKEN)
        assert Post.objects.count() == 2
        lines = out.splitlines()
        # Several routes: each row says which route it belongs to (both routes
        # carry testapp.post and testapp.blog).
        assert lines[0].split() == ["route", "model", "received", "written", "deleted", "seconds"]
        rows = [line.split() for line in lines[2:10]]
        assert [row[:2] for row in rows[:4]] == [
            ["blogs", "testapp.author"],
            ["blogs", "testapp.tag"],
            ["blogs", "testapp.blog"],
            ["blogs", "testapp.post"],
        ]
        assert sorted(row[1] for row in rows[4:]) == sorted(row[1] for row in rows[:4])
        assert {row[0] for row in rows[4:]} == {"blog/blog"}
        assert rows[3][2:5] == ["2", "2", "0"]
        total = lines[11].split()
        assert total[:4] == ["total", "12", "12", "0"]
        # The total's seconds are the command's wall time, at least each model's.
        assert float(total[4]) >= sum(float(row[5]) for row in rows[4:])
        # Not a terminal: one plain line per model loaded, named with its route.
        assert "blogs: testapp.post 2 rows in " in err
        assert "blog/blog: testapp.post 2 rows in " in err

    def test_one_route_has_no_route_column(self, live_server_process):
        make_blog()
        out, _ = run("blogs", endpoint=live_server_process.sync_url, token=TOKEN)
        lines = out.splitlines()
        assert lines[0].split() == ["model", "received", "written", "deleted", "seconds"]
        assert lines[-1].split()[:4] == ["total", "6", "6", "0"]

    def test_verbosity_2_and_3_say_more(self, live_server_process):
        make_blog()
        Tag.objects.create(pk=900, name="local")
        _, err2 = run(
            "blogs", "--clean", endpoint=live_server_process.sync_url, token=TOKEN, verbosity=2
        )
        _, err1 = run("blogs", "--clean", endpoint=live_server_process.sync_url, token=TOKEN)
        _, err3 = run(
            "blogs", "--clean", endpoint=live_server_process.sync_url, token=TOKEN, verbosity=3
        )
        assert "deleted" not in err1 and "check:" not in err1
        assert "blogs: testapp.tag 1 row deleted in " in err2  # the local one
        assert "check: constraints, references, sequences and commit of every route in" in err2
        assert "batch" not in err2 and "queries" not in err2
        # -v 3: each batch, and the queries of each model (counted for real).
        assert re.search(r"blogs: testapp.post batch of 2 rows written in .* \((\d+) quer", err3)
        queries = re.search(r"blogs: testapp.post 2 rows in .*\(1 batch, (\d+) queries\)", err3)
        assert queries and int(queries.group(1)) > 0, err3
        assert re.search(r"blogs: testapp.tag 2 rows deleted in .* \(\d+ quer", err3)

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
        out, err = run("blogs", "--clean", "--no-reset", verbosity=0)
        assert out == "" and err == ""
        assert Post.objects.count() == 2

    def test_list(self, live_server_process):
        out, _ = run("--list", endpoint=live_server_process.sync_url, token=TOKEN)
        assert "blogs  [models]  testapp.author, testapp.tag, testapp.blog, testapp.post" in out
        assert "(depends on the URL arguments)" in out

    def test_list_wraps_a_long_list_of_models_at_label_boundaries(
        self, live_server_process, monkeypatch
    ):
        monkeypatch.setenv("COLUMNS", "50")
        out, _ = run("--list", endpoint=live_server_process.sync_url, token=TOKEN)
        lines = out.splitlines()
        start = lines.index("  blogs  [models]  testapp.author, testapp.tag,")
        assert lines[start + 1] == "      testapp.blog, testapp.post"
        assert [line for line in lines[1:] if len(line) > 50] == []
        # The route's parents: their heading alone when no label fits after it.
        assert "      with the rows they reference of:" in lines

    def test_errors_are_one_line(self, live_server_process):
        with pytest.raises(CommandError, match="refused this token") as info:
            run("blogs", endpoint=live_server_process.sync_url, token="wrong-token-xxxxxxxxxx")
        assert "\n" not in str(info.value)
        assert "wrong-token" not in str(info.value)
        with pytest.raises(CommandError, match="name at least one route"):
            run(endpoint=live_server_process.sync_url, token=TOKEN)


def run_in_a_process(*args: str) -> subprocess.CompletedProcess:
    """``sync_data`` with ``args`` in a process of its own (exit status, stderr)."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "django", "sync_data", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_failure_exits_1_without_traceback(tmp_path):
    from tests.conftest import free_port

    completed = run_in_a_process(
        "blogs", "--endpoint", f"http://127.0.0.1:{free_port()}/sync/", "--token", TOKEN
    )
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().startswith("CommandError: could not reach")
    assert TOKEN not in completed.stderr


def run_on_a_terminal(args: list[str], env: dict, columns: int = 100) -> str:
    """Run ``args`` in a pseudo-terminal ``columns`` wide (stdin, stdout and
    stderr); everything it wrote, as the terminal received it."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen(
        args, stdin=secondary, stdout=secondary, stderr=secondary, env=env, cwd=ROOT
    )
    os.close(secondary)
    chunks = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if select.select([primary], [], [], 0.5)[0]:
                try:
                    data = os.read(primary, 65536)
                except OSError:  # EIO: the command has exited and all is read
                    break
                if not data:
                    break
                chunks.append(data)
    finally:
        process.kill() if process.poll() is None else None
        process.wait()
        os.close(primary)
    return b"".join(chunks).decode()


@e2e
def test_on_a_terminal_one_line_per_route_redrawn_in_place(live_server_process):
    make_blog()
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
        TERM="xterm-256color",
    )
    args = [sys.executable, "-m", "django", "sync_data", "blogs", "blog/blog", "--clean"]
    args += ["--noinput", "--endpoint", live_server_process.sync_url]
    output = run_on_a_terminal(args, env)
    screen = render(output, width=100)  # fails on any other escape sequence
    # Drawn while it worked: the model at work against the server's total.
    assert re.search(r"blogs      clean [0-9.]+ s, load testapp.post 0/2 rows, 0.0 MB", output)
    # What stays on the screen: one line per route, then the summary.
    assert re.fullmatch(r"blogs      clean [0-9.]+ s, load 6 rows in [0-9.]+ s", screen[0]), screen
    assert re.fullmatch(r"blog/blog  load 6 rows in [0-9.]+ s", screen[1]), screen
    assert screen[2].split() == ["route", "model", "received", "written", "deleted", "seconds"]
    assert not [line for line in screen if "obj" in line or "waiting" in line]
    assert Post.objects.count() == 2


@pytest.mark.parametrize(
    "options, message",
    [
        ({"verify": True, "clean": True}, r"--verify syncs nothing, so --clean would be ignored"),
        (
            {"verify": True, "incremental": True, "dry_run": True},
            r"--incremental, --dry-run would be ignored: drop them \(--verify-after syncs",
        ),
        ({"list": True, "clean": True}, r"--list syncs nothing"),
        ({"check": True, "verify": True}, r"--check and --verify do not go together"),
        (
            {"verify_after": True, "dry_run": True},
            r"--verify-after compares what a sync committed and --dry-run commits nothing",
        ),
        ({"list": True}, r"--list lists every route of the server: drop the ROUTE names"),
        ({"history_limit": 5}, r"--history-limit goes with --history"),
        ({"history": True, "history_limit": 0}, r"--history-limit 0: a whole number of syncs"),
        ({"history": True, "history_limit": -1}, r"--history-limit -1: a whole number of syncs"),
        ({"database": "nosuch"}, r"--database 'nosuch': no such database in DATABASES \(it has "),
        (
            {"database": "nosuch", "verify": True},
            r"--database 'nosuch': no such database in DATABASES",
        ),
        (
            {"database": "nosuch", "history": True},
            r"--database 'nosuch': no such database in DATABASES",
        ),
    ],
)
def test_options_a_command_would_ignore_are_refused(options, message):
    """Nothing is asked of any server: the refusal comes first."""
    with pytest.raises(CommandError, match=message):
        run("blogs", endpoint="http://127.0.0.1:9/sync/", **options)


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_a_history_limit_below_one_is_refused_in_one_line(limit):
    completed = run_in_a_process("--history", "--history-limit", limit)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert f"argument --history-limit: {limit!r}: a whole number of syncs, 1 or more" in (
        completed.stderr
    )


def test_a_route_named_twice_is_refused():
    with pytest.raises(CommandError, match="route 'blogs' is named twice"):
        run("blogs", "tags", "blogs", endpoint="http://127.0.0.1:9/sync/")
    with pytest.raises(CommandError, match="'blogs' and '/blogs/' are one route"):
        run("blogs", "tags", "/blogs/", endpoint="http://127.0.0.1:9/sync/")


@e2e
def test_ctrl_c_is_one_line_with_the_status_a_shell_gives(live_server_process, register_plugin):
    from tests.client.test_lock import Interrupt

    Tag.objects.using("server").create(name="one")
    Tag.objects.create(name="local")
    register_plugin(Interrupt())
    with pytest.raises(CommandError) as raised:
        run("tags", "--clean", endpoint=live_server_process.sync_url, token=TOKEN)
    assert str(raised.value) == (
        "interrupted: nothing was written (the sync's transaction was rolled back)"
    )
    assert raised.value.returncode == 130
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["local"]


def test_a_failed_sync_says_nothing_was_written():
    from synctool.exceptions import IncompleteResponse, SynctoolError
    from synctool.management.commands.sync_data import with_outcome

    cut = IncompleteResponse("http://x/sync/site: the connection was cut: Response ended")
    assert with_outcome(cut, dry_run=False) == (
        "http://x/sync/site: the connection was cut: Response ended. Nothing was written."
    )
    cut.rolled_back = True  # cut in the middle of the body, the transaction open
    assert with_outcome(cut, dry_run=False) == (
        "http://x/sync/site: the connection was cut: Response ended. "
        "Nothing was written (the sync's transaction was rolled back)."
    )
    assert with_outcome(cut, dry_run=True) == str(cut)
    said = SynctoolError("refused. Nothing was written.")
    assert with_outcome(said, dry_run=False) == str(said)
    after = SynctoolError("media failed")
    after.committed = True
    assert with_outcome(after, dry_run=False) == "media failed"


class _Refuses:
    @hookimpl
    def transform_object(self, obj, side):
        if side == "client":
            raise ValueError("no thanks")


@e2e
def test_a_failure_says_whether_a_transaction_was_rolled_back(live_server_process, register_plugin):
    Tag.objects.using("server").create(name="one")
    with pytest.raises(CommandError) as refused:
        run("tags", endpoint=live_server_process.sync_url, token="wrong")
    assert str(refused.value).endswith(" Nothing was written.")
    register_plugin(_Refuses())
    with pytest.raises(CommandError) as failed:
        run("tags", endpoint=live_server_process.sync_url, token=TOKEN)
    assert "the transform_object hook raised ValueError: no thanks" in str(failed.value)
    assert str(failed.value).endswith(
        " Nothing was written (the sync's transaction was rolled back)."
    )
