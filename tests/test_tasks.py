"""synctool.tasks on Django's task framework (django.tasks on Django 6, the
django-tasks backport on 5.2) with django-tasks-db: tasks enqueued by one
process, run by ``manage.py db_worker`` in another, syncing from the gunicorn
test server into the test database; the results read back by a third.

The queue lives in the worker's own "default" database (a SQLite file of the
test); the syncs go into its "target" alias, the test's "default" database.
Run on SQLite only: the task never looks at the database (each backend's
lock is tested in tests/client/test_lock.py).
"""

import json
import socket
import subprocess
import sys

import pytest
from django.conf import settings

from synctool.models import SyncRun
from tests.conftest import ROOT, TOKEN, e2e, free_port
from tests.testapp.models import Tag
from tests.utils import database_digest
from tests.workers import worker_env

try:
    import django.tasks  # noqa: F401 - Django 6
except ImportError:
    pytest.importorskip("django_tasks", reason="neither django.tasks nor django-tasks installed")
pytest.importorskip("django_tasks_db", reason="django-tasks-db is not installed")

if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    pytest.skip(
        "Django tasks run on SQLite only: the task is the same on every backend, whose "
        "locks tests/client/test_lock.py tests",
        allow_module_level=True,
    )


def run(args: list[str], env: dict) -> str:
    completed = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


@e2e
def test_db_worker_runs_the_sync_task_and_records_it(live_server_process, tmp_path):
    for name in ("one", "two"):
        Tag.objects.using("server").create(name=name)
    Tag.objects.using("default").create(name="local")
    env = worker_env(
        {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "q.db")},
            "target": "default",
        },
        SYNCTOOL_WORKER_TASKS="1",
        SYNCTOOL_WORKER_ENDPOINT=live_server_process.sync_url,
        SYNCTOOL_WORKER_TOKEN=TOKEN,
    )
    down = f"http://127.0.0.1:{free_port()}/sync/"
    calls = [
        # First (a higher priority): a server that is down.
        {"args": [["tags"]], "kwargs": {"database": "target", "endpoint": down}, "priority": 10},
        {"args": [["tags"]], "kwargs": {"database": "target", "clean": True, "verify": True}},
    ]
    failing, syncing = json.loads(run(["tests/tasks_script.py", "enqueue", json.dumps(calls)], env))
    # Nothing ran yet: the tasks wait in the queue for a worker.
    assert not SyncRun.objects.using("default").exists()

    run(["-m", "django", "db_worker", "--batch", "--no-startup-delay", "--interval", "0"], env)
    results = json.loads(
        run(["tests/tasks_script.py", "results", json.dumps([failing, syncing])], env)
    )

    failed, done = results[failing], results[syncing]
    assert failed["status"] == "FAILED"
    assert failed["errors"] == ["synctool.exceptions.ServerUnreachable"]
    assert "could not reach" in failed["traceback"]
    assert done["status"] == "SUCCESSFUL", done["traceback"]
    summary = done["value"]
    assert (summary["database"], summary["host"]) == ("target", socket.gethostname())
    (route,) = summary["routes"]
    assert route["url"] == live_server_process.sync_url + "tags"
    assert route["models"]["testapp.tag"] == {"received": 2, "written": 2, "deleted": 1}
    assert route["media"] is None and route["bytes_received"] > 0
    assert route["verified"] == {"testapp.tag": {"equal": True, "compared": True, "rows": 2}}

    # Both recorded in the history of the database synced into, with their task's id.
    runs = {run.task_id: run for run in SyncRun.objects.using("default").all()}
    assert set(runs) == {failing, syncing}
    assert {run.origin for run in runs.values()} == {"django-task"}
    assert runs[failing].status == "failed" and runs[failing].rows == 0
    assert runs[failing].error.startswith("could not reach")
    assert runs[syncing].status == "succeeded" and runs[syncing].pk == route["run_id"]
    assert runs[syncing].started > runs[failing].finished
    assert database_digest("default", ("testapp",)) == database_digest("server", ("testapp",))
