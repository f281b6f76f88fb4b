"""Helpers for tests with processes beside the test process: the environment of
a process that syncs into the test databases (tests/worker_settings.py), a row
the test server stalls on, and waiting for a condition with a deadline."""

import contextlib
import copy
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from django.db import connections

from synctool.client.lock import sync_lock
from tests.conftest import ROOT, ServerProcess
from tests.plugins import STALL

SETTINGS_KEYS = {"ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS"}


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0):
    """``condition()``'s first true value, asked until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def extra_database(alias: str) -> Iterator[str]:
    """A test database ``alias`` beside the suite's two, for the tests inside the
    block (they name it in ``databases``): created and migrated like them,
    destroyed after.

    Not in tests/settings.py: from Django 6.1, every system check run
    (``run_from_argv``) asks every configured database, and the tests that
    run checks allow only the two they use.
    """
    from tests.settings import database

    wanted = database(alias)
    settings_dict = copy.deepcopy(connections["default"].settings_dict)
    settings_dict["NAME"] = wanted["NAME"]
    settings_dict["TEST"]["NAME"] = wanted["TEST"]["NAME"]
    connections.settings[alias] = settings_dict
    creation = connections[alias].creation
    creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield alias
    finally:
        connections[alias].close()
        creation.destroy_test_db(wanted["NAME"], verbosity=0)
        del connections[alias]
        del connections.settings[alias]


def database_settings(alias: str) -> dict:
    """The settings of the test database ``alias`` (its test name), for another process."""
    settings_dict = connections[alias].settings_dict
    return {key: value for key, value in settings_dict.items() if key in SETTINGS_KEYS}


def worker_env(databases: dict[str, str | dict], plugins: str = "", **extra: str) -> dict[str, str]:
    """The environment of a process with tests/worker_settings.py, whose aliases
    (``databases``' keys) are the test databases named by its values (or, for
    a settings dict, that database)."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "SYNCTOOL_WORKER_DATABASES": json.dumps(
            {
                alias: target if isinstance(target, dict) else database_settings(target)
                for alias, target in databases.items()
            }
        ),
        "SYNCTOOL_WORKER_PLUGINS": plugins,
        **extra,
    }


def manage(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """``python -m django ARGS`` in its own process, its output in ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "django", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


class Stall:
    """A row the test server stops at while it streams (tests/plugins.py): a
    client syncing it is inside its transaction until :meth:`release`."""

    def __init__(self, server: ServerProcess):
        self.token = uuid.uuid4().hex[:12]
        self.directory = server.stall_dir

    @property
    def name(self) -> str:
        """The value to give a row's ``name`` field on the server."""
        return STALL + self.token

    def reached(self) -> bool:
        return (self.directory / f"{self.token}.stalled").exists()

    def wait(self, timeout: float = 30.0) -> None:
        wait_for(self.reached, "the server to reach the stalled row", timeout)

    def release(self) -> None:
        (self.directory / f"{self.token}.go").touch()


class Background:
    """``function()`` running in another thread, with its own database connections."""

    def __init__(self, function):
        self.function = function
        self.outcome = {}
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        try:
            self.outcome["value"] = self.function()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            self.outcome["error"] = exc
        finally:
            connections.close_all()

    def join(self) -> dict:
        """``{"value": what it returned}`` or ``{"error": the exception it raised}``."""
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        return self.outcome


def in_thread(function) -> dict:
    return Background(function).join()


def try_lock(using: str):
    """Whether another thread can take the lock of ``using`` at once, or its refusal."""

    def take():
        with sync_lock(using, timeout=0):
            return True

    outcome = in_thread(take)
    return outcome.get("value") or outcome["error"]
