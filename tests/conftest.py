"""Fixtures: the end-to-end server (gunicorn in its own process, serving the
``server`` test database over HTTP on 127.0.0.1) and helpers."""

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.db import connections

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-token-0123456789abcdef"  # noqa: S105


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    process: subprocess.Popen
    base_url: str
    log_path: Path
    # Where tests.plugins waits before sending a "STALL-ON-SERVER:..." row.
    stall_dir: Path | None = None

    @property
    def sync_url(self) -> str:
        return self.base_url + "/sync/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(tmp_path: Path, *, plugins: str = "", workers: int = 2, extra_env=None):
    """Start gunicorn serving tests.wsgi on a free port; wait until it answers."""
    env = server_env(tmp_path, plugins=plugins, extra_env=extra_env)
    server = start_gunicorn(tmp_path, "tests.wsgi:application", env, workers=workers)
    server.stall_dir = tmp_path / "stall"
    return server


def server_env(tmp_path: Path, *, plugins: str = "", extra_env=None) -> dict:
    """The environment of a test server serving the ``server`` test database."""
    settings_dict = dict(connections["server"].settings_dict)
    stall_dir = tmp_path / "stall"
    stall_dir.mkdir(exist_ok=True)
    return dict(
        DJANGO_SETTINGS_MODULE="tests.server_settings",
        SYNCTOOL_E2E_DATABASE=json.dumps(
            {
                k: v
                for k, v in settings_dict.items()
                if k in {"ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS"}
            }
        ),
        SYNCTOOL_E2E_PLUGINS=plugins,
        SYNCTOOL_E2E_MEDIA_ROOT=str(tmp_path / "server-media"),
        SYNCTOOL_E2E_STALL_DIR=str(stall_dir),
        **(extra_env or {}),
    )


def start_gunicorn(
    tmp_path: Path, application: str, env: dict, *, workers: int = 2, cwd: Path = ROOT
):
    """Start gunicorn serving ``application`` on a free port, with ``env`` added to
    this process's environment, in ``cwd``; wait until it answers."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--timeout", "120", "--graceful-timeout", "2", application,
    ]  # fmt: skip
    return start_http_process(tmp_path, command, port, env, cwd=cwd, name="gunicorn")


def start_runserver(tmp_path: Path, env: dict) -> ServerProcess:
    """Django's runserver (wsgiref: it reads no chunked request body) serving
    tests.server_settings on a free port."""
    port = free_port()
    command = [
        sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload",
        "--skip-checks",
    ]  # fmt: skip
    return start_http_process(tmp_path, command, port, env, name="runserver")


def start_http_process(
    tmp_path: Path, command: list[str], port: int, env: dict, *, cwd: Path = ROOT, name: str
) -> ServerProcess:
    """Start ``command`` (a server listening on ``port``); wait until it answers."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    log_path = tmp_path / f"{name}-{port}.log"
    # The child keeps its own copy of the descriptor; the parent closes its one.
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT
        )  # fmt: skip
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the test server exited:\n{server.log()}")
        try:
            requests.get(server.sync_url, timeout=5)
            break
        except requests.RequestException:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the test server did not start:\n{server.log()}") from None
            time.sleep(0.1)
    return server


def stop_server(server: ServerProcess) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def pytest_unconfigure(config):
    """Remove the test directory tests/settings.py made for this run."""
    import shutil

    if os.environ.get("SYNCTOOL_TEST_DIR_MADE_BY") == str(os.getpid()):
        shutil.rmtree(os.environ["SYNCTOOL_TEST_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
def live_server_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """One gunicorn server for the session, serving the ``server`` test database."""
    server = start_server(tmp_path_factory.mktemp("server"), plugins="tests.plugins")
    yield server
    stop_server(server)


@pytest.fixture
def client_for(live_server_process):
    """Build a Client pointed at the live server (token defaults to the right one)."""
    from synctool.client import Client

    def build(token=TOKEN, **kwargs):
        kwargs.setdefault("api_url", live_server_process.sync_url)
        return Client(api_token=token, **kwargs)

    return build


@pytest.fixture
def register_plugin():
    """Register plugin objects for one test; they are unregistered afterwards."""
    from synctool.plugins import get_plugin_manager

    registered = []

    def register(plugin):
        get_plugin_manager().register(plugin)
        registered.append(plugin)
        return plugin

    yield register
    for plugin in registered:
        get_plugin_manager().unregister(plugin)


# Every end-to-end test writes on the server database and syncs into default.
e2e = pytest.mark.django_db(transaction=True, databases=["default", "server"])


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: ``(key path, certificate path)``."""
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],  # fmt: skip
        check=True,
        capture_output=True,
    )
    return key, cert
