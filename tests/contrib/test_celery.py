"""synctool_contrib.celery with a real Celery worker (prefork, two processes) on
the machine's Redis, syncing from the gunicorn test server into the test
databases: the documented beat schedule sent as beat sends it, a fan-out into
two databases, retries only where safe, a soft time limit inside a sync.

One worker for the module, on a queue (and Redis key prefix) of its own.
Run on SQLite only: the tasks never look at the database; what each backend
does differently is its lock, tested on every backend in
tests/client/test_lock.py. SQLite is also where a released lock shows: its
file lock lives as long as the worker process that took it.
"""

import os
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

celery = pytest.importorskip("celery", reason="the celery extra is not installed")
redis = pytest.importorskip("redis", reason="celery[redis] is not installed")

if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    pytest.skip(
        "Celery runs on SQLite only: the tasks are the same on every backend, whose "
        "locks tests/client/test_lock.py tests",
        allow_module_level=True,
    )

REDIS_URL = os.environ.get("SYNCTOOL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
try:
    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
except redis.RedisError as exc:
    if os.environ.get("SYNCTOOL_TEST_REQUIRE_REDIS") == "1":
        raise
    pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}", allow_module_level=True)

from celery import Celery  # noqa: E402
from celery.exceptions import SoftTimeLimitExceeded  # noqa: E402

from docs.examples.celery_beat import CELERY_BEAT_SCHEDULE  # noqa: E402
from synctool.client.lock import sync_lock  # noqa: E402
from synctool.exceptions import RouteNotFound, ServerUnreachable  # noqa: E402
from synctool.models import SyncRun  # noqa: E402
from tests.client.test_api import make_blog  # noqa: E402
from tests.conftest import ROOT, TOKEN, free_port  # noqa: E402
from tests.testapp.models import Tag  # noqa: E402
from tests.utils import content_digest  # noqa: E402
from tests.workers import (  # noqa: E402
    Stall,
    extra_database,
    try_lock,
    wait_for,
    worker_env,
)

databases = pytest.mark.django_db(transaction=True, databases=["default", "server", "other"])
# The worker's aliases: "default" and "review" (the documented schedule's), the
# test process's "default" and "other" databases.
WORKER_DATABASES = {"default": "default", "review": "other"}


@dataclass
class Worker:
    app: Celery
    process: subprocess.Popen
    log: Path

    def send(self, entry: dict, **options):
        """Send a beat schedule ``entry``'s task as beat does: by name, with its arguments."""
        return self.app.send_task(
            entry["task"], args=entry.get("args", ()), kwargs=entry.get("kwargs", {}), **options
        )


@pytest.fixture(scope="module")
def other_database(django_db_setup, django_db_blocker):
    """A second database to sync into (the test databases' "other")."""
    with django_db_blocker.unblock(), extra_database("other") as alias:
        yield alias


@pytest.fixture(scope="module")
def celery_worker(other_database, live_server_process, tmp_path_factory):
    queue = f"synctool-test-{uuid.uuid4().hex[:12]}"
    options = {"global_keyprefix": queue + ":"}
    env = worker_env(
        WORKER_DATABASES,
        SYNCTOOL_WORKER_BROKER=REDIS_URL,
        SYNCTOOL_WORKER_QUEUE=queue,
        SYNCTOOL_WORKER_ENDPOINT=live_server_process.sync_url,
        SYNCTOOL_WORKER_TOKEN=TOKEN,
    )
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker"]
            + ["--pool", "prefork", "--concurrency", "2", "--queues", queue]
            + ["--hostname", f"{queue}@%h", "--loglevel", "INFO"]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    app = Celery("synctool-test-sender", broker=REDIS_URL, backend=REDIS_URL, fixups=[])
    app.conf.update(
        task_default_queue=queue,
        broker_transport_options=options,
        result_backend_transport_options=options,
        result_extended=True,
    )
    try:
        wait_for(
            lambda: process.poll() is not None or " ready." in log.read_text(errors="replace"),
            "the Celery worker to start",
        )
        assert process.poll() is None, log.read_text(errors="replace")
        yield Worker(app, process, log)
    finally:
        process.send_signal(signal.SIGQUIT)  # a cold shutdown: every task has ended
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        app.close()
        keys = redis.Redis.from_url(REDIS_URL)
        for key in keys.scan_iter(match=f"{queue}:*"):
            keys.delete(key)
        keys.close()


def tag_names(using="default") -> list[str]:
    return sorted(Tag.objects.using(using).values_list("name", flat=True))


@databases
def test_the_documented_beat_schedule_syncs_into_each_database(celery_worker, live_server_process):
    make_blog(slug="news", posts=3, tags=("a", "b", "c"))
    for using in ("default", "other"):
        Tag.objects.using(using).create(name="stale")
    server = content_digest("server")

    # The fan-out: one task per database, side by side.
    fan_out = celery_worker.send(CELERY_BEAT_SCHEDULE["synctool-blogs-fan-out"])
    started = fan_out.get(timeout=60)
    assert set(started["tasks"]) == {"default", "review"}
    children = {name: celery_worker.app.AsyncResult(id) for name, id in started["tasks"].items()}
    summaries = {name: child.get(timeout=60) for name, child in children.items()}
    # Two databases, two locks: neither sync waited for (or retried after) the other.
    assert [child.retries for child in children.values()] == [0, 0]
    for using in ("default", "other"):
        assert content_digest(using) == server, using
    review = SyncRun.objects.using("other").get()
    assert (review.database, review.origin, review.task_id, review.status) == (
        "review",
        "celery",
        children["review"].id,
        "succeeded",
    )

    # The nightly sync, and its summary.
    summary = celery_worker.send(CELERY_BEAT_SCHEDULE["synctool-blogs-nightly"]).get(timeout=60)
    assert summaries["review"]["database"] == "review"
    assert (summary["database"], summary["host"], summary["dry_run"]) == (
        "default",
        socket.gethostname(),
        False,
    )
    (route,) = summary["routes"]
    assert route["route"] == "blogs"
    assert route["url"] == live_server_process.sync_url + "blogs"
    assert route["models"]["testapp.post"] == {"received": 3, "written": 3, "deleted": 3}
    assert route["bytes_received"] > 0 and route["seconds"] >= 0 and route["media"] is None
    run = SyncRun.objects.using("default").get(pk=route["run_id"])
    assert (run.origin, run.host, run.status) == ("celery", socket.gethostname(), "succeeded")
    assert run.task_id not in started["tasks"].values()
    assert content_digest("default") == server


@databases
def test_a_sync_finding_its_database_locked_is_retried(celery_worker):
    Tag.objects.using("server").create(name="one")
    with sync_lock("default", timeout=0):
        result = celery_worker.app.send_task("synctool.sync", args=[["tags"]])
        wait_for(lambda: result.state == "RETRY", "the task to be retried")
        # A sync refused by the lock never started: nothing recorded.
        assert not SyncRun.objects.using("default").exists()
    summary = result.get(timeout=60)
    assert result.retries == 1
    assert summary["routes"][0]["written"] == 1
    assert tag_names() == ["one"]
    assert SyncRun.objects.using("default").get().task_id == result.id


@databases
def test_a_sync_whose_server_is_down_fails_after_its_retries(celery_worker):
    Tag.objects.using("default").create(name="local")
    down = f"http://127.0.0.1:{free_port()}/sync/"
    result = celery_worker.app.send_task(
        "synctool.sync", args=[["tags"]], kwargs={"endpoint": down, "clean": True}
    )
    with pytest.raises(ServerUnreachable, match="could not reach"):
        result.get(timeout=60)
    assert result.retries == 1  # max_retries, from the worker's task_annotations
    assert tag_names() == ["local"]
    runs = list(SyncRun.objects.using("default").values_list("status", "origin", "task_id"))
    assert runs == [("failed", "celery", result.id)] * 2  # both attempts recorded
    assert SyncRun.objects.using("default").first().error.startswith("could not reach")

    # A route the server does not have: retrying cannot help.
    missing = celery_worker.app.send_task("synctool.sync", args=[["no-such-route"]])
    with pytest.raises(RouteNotFound):
        missing.get(timeout=60)
    assert missing.retries == 0


@databases
def test_a_soft_time_limit_inside_the_sync_rolls_it_back(celery_worker, live_server_process):
    stall = Stall(live_server_process)
    for name in ("one", stall.name):
        Tag.objects.using("server").create(name=name)
    Tag.objects.using("default").create(name="local")
    result = celery_worker.app.send_task(
        "synctool.sync", args=[["tags"]], kwargs={"clean": True}, soft_time_limit=2, time_limit=60
    )
    try:
        with pytest.raises(SoftTimeLimitExceeded):
            result.get(timeout=60)
        # It was stopped while the server held the body: after its clean,
        # inside its transaction.
        assert stall.reached()
    finally:
        stall.release()
    assert result.retries == 0
    assert tag_names() == ["local"]
    run = SyncRun.objects.using("default").get()
    assert (run.status, run.error) == ("failed", "SoftTimeLimitExceeded")
    # The worker process lives on: its lock was released all the same.
    assert try_lock("default") is True
