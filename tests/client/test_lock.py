"""One sync per target database at a time (synctool.client.lock), on each backend:
a second sync fails at once or waits its turn, the data is then exactly one
sync's, and the lock is released however a sync ends."""

import datetime
import io
import logging
import socket
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.db.utils import ConnectionHandler
from django.utils import timezone

from synctool import hookimpl
from synctool.backends import backend_for
from synctool.client import Client
from synctool.client.history import describe_running
from synctool.client.lock import sync_lock
from synctool.exceptions import ConfigurationError, ServerUnreachable, SyncLocked
from synctool.models import SyncRun
from tests.conftest import TOKEN, e2e, free_port
from tests.testapp.models import Tag
from tests.utils import database_digest
from tests.workers import Background, Stall, manage, try_lock, wait_for, worker_env


class LockHolder:
    """Holds the lock of ``using`` in another thread until :meth:`release`."""

    def __init__(self, using: str):
        self.taken, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(using,))

    def _hold(self, using):
        try:
            with sync_lock(using, timeout=0):
                self.taken.set()
                self.done.wait(60)
        finally:
            connections.close_all()

    def __enter__(self):
        self.thread.start()
        assert self.taken.wait(30)
        return self

    def __exit__(self, *exc_info):
        self.done.set()
        self.thread.join(30)


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def lock_log():
    """The messages of the synctool.lock logger during the test."""
    logger = logging.getLogger("synctool.lock")
    handler, level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def tag_names(using="default") -> list[str]:
    return sorted(Tag.objects.using(using).values_list("name", flat=True))


@e2e
def test_a_second_sync_fails_at_once_or_waits_its_turn(
    live_server_process, client_for, tmp_path, lock_log
):
    stall = Stall(live_server_process)
    for name in ("one", "two", stall.name):
        Tag.objects.using("server").create(name=name)
    Tag.objects.using("default").create(name="local")
    first = manage(
        ["sync_data", "tags", "--clean", "--verbosity", "0"]
        + ["--endpoint", live_server_process.sync_url, "--token", TOKEN],
        worker_env({"default": "default"}),
        tmp_path / "first.log",
    )
    try:
        # The first sync (another process) is inside its transaction, its
        # clean done, the server holding the rest of the body.
        stall.wait()
        with pytest.raises(CommandError) as refused:
            call_command(
                "sync_data",
                "tags",
                clean=True,
                lock_timeout=0,
                endpoint=live_server_process.sync_url,
                token=TOKEN,
                verbosity=0,
            )
        message = str(refused.value)
        name = connections["default"].settings_dict["NAME"]
        assert f"another sync into database 'default' ({name}) is running" in message
        assert f"route 'tags', on host {socket.gethostname()} by sync_data, started" in message
        assert "--lock-timeout" in message

        # The same from Python, waiting its turn in another thread.
        client = client_for()
        waiting = Background(lambda: client.sync("tags", clean=True, lock_timeout=60))
        wait_for(lambda: any("waiting" in m for m in lock_log), "the second sync to wait")
        assert "route 'tags'" in lock_log[0]
    finally:
        stall.release()
    assert first.wait(timeout=60) == 0, (tmp_path / "first.log").read_text()
    outcome = waiting.join()
    assert "error" not in outcome, outcome
    assert outcome["value"].models["testapp.tag"].written == 3

    # The refused sync never started: two runs, one after the other.
    first_run, second_run = SyncRun.objects.using("default").order_by("id")
    assert (first_run.origin, first_run.status) == ("command", "succeeded")
    assert (second_run.origin, second_run.status) == ("python", "succeeded")
    assert second_run.started >= first_run.finished
    assert first_run.counts["testapp.tag"]["written"] == 3
    assert tag_names() == sorted(["one", "two", stall.name])
    assert database_digest("default", ("testapp",)) == database_digest("server", ("testapp",))


class Interrupt:
    @hookimpl
    def transform_object(self, obj, side):
        if side == "client":
            raise KeyboardInterrupt


@e2e
def test_the_lock_is_released_however_a_sync_ends(client_for, register_plugin):
    Tag.objects.using("server").create(name="one")
    Tag.objects.using("default").create(name="local")
    # A run a killed process left "running" is closed by the next sync to take the lock.
    abandoned = SyncRun.objects.using("default").create(
        route="tags", endpoint="x", database="default", started=timezone.now()
    )

    down = Client(api_url=f"http://127.0.0.1:{free_port()}/sync/", api_token=TOKEN)
    with pytest.raises(ServerUnreachable):
        down.sync("tags")
    assert try_lock("default") is True
    abandoned.refresh_from_db()
    assert (abandoned.status, abandoned.error) == (
        "failed",
        "interrupted: its process ended before the sync finished",
    )

    register_plugin(Interrupt())
    with pytest.raises(KeyboardInterrupt):
        client_for().sync("tags", clean=True)
    assert try_lock("default") is True
    assert tag_names() == ["local"]
    assert SyncRun.objects.using("default").first().error == "interrupted (Ctrl-C, SIGINT)"


@e2e
def test_one_lock_per_database_taken_by_dry_runs_not_by_checks(client_for):
    Tag.objects.using("server").create(name="one")
    with sync_lock("default", timeout=0) as taken:
        assert taken is True
        with sync_lock("default", timeout=0) as again:
            assert again is False  # the same thread: re-entered
        refusal = try_lock("default")
        assert isinstance(refusal, SyncLocked)
        assert "another sync into database 'default'" in str(refusal)
        assert try_lock("server") is True  # another database of the same server
    assert try_lock("default") is True

    client = client_for()
    with LockHolder("default"):
        with pytest.raises(SyncLocked):
            client.sync("tags", dry_run=True, lock_timeout=0)
        with pytest.raises(SyncLocked, match="did not finish within 0.2 s"):
            client.sync("tags", lock_timeout=0.2)
        # The command says that it waits.
        stderr = io.StringIO()
        with pytest.raises(CommandError, match="did not finish within 0.2 s"):
            call_command(
                "sync_data",
                "tags",
                "--lock-timeout",
                "0.2",
                endpoint=client.api_url,
                token=TOKEN,
                stderr=stderr,
            )
        assert "waiting up to 0.2 s for the sync into database 'default'" in stderr.getvalue()
        assert client.check(["tags"]).ok  # reads only: no lock
    assert tag_names() == []
    assert client.sync("tags", lock_timeout=0).written == 1


@pytest.mark.django_db
def test_the_running_sync_is_named_from_the_history():
    assert describe_running("default") == ""
    when = timezone.now()
    SyncRun.objects.create(
        route="older", endpoint="x", database="default", started=when - datetime.timedelta(days=1)
    )
    for route in ("blogs", "shop"):  # one sync of two routes
        SyncRun.objects.create(
            route=route,
            endpoint="x",
            database="default",
            host="worker-2",
            origin="celery",
            task_id="5f0c",
            started=when,
        )
    assert describe_running("default") == (
        "routes 'blogs', 'shop', on host worker-2 by Celery task 5f0c, "
        f"started {when:%Y-%m-%d %H:%M:%S} UTC"
    )


def test_an_in_memory_database_is_locked_within_the_process():
    handler = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    )
    first = backend_for(handler["default"]).sync_lock()
    second = backend_for(handler["default"]).sync_lock()
    assert first.acquire() is True
    assert second.acquire() is False
    first.release()
    assert second.acquire() is True
    second.release()


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_lock_timeout_option_refuses_what_is_not_seconds(value):
    with pytest.raises(CommandError, match="a number of seconds"):
        call_command("sync_data", "tags", "--lock-timeout", value)


def test_lock_timeout_argument_refuses_what_is_not_seconds():
    with pytest.raises(ConfigurationError, match="lock_timeout must be a number of seconds"):
        Client(api_url="http://127.0.0.1:1/sync/").sync("tags", lock_timeout=-5)
