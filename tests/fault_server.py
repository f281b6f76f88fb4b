"""The fault-injection server: URLs and a server-side plugin.

Served by gunicorn with ``tests.fault_settings``. Next to the usual test
routes (``/sync/...``) it has:

- ``/private/sync/...``: the same routes behind ``login_required``, so an
  anonymous request gets a real 302 to ``/accounts/login/``;
- a ``transform_object`` hook that stops the stream at a post titled
  ``PAUSE-ON-SERVER <name>``: it writes its process id to
  ``$SYNCTOOL_FAULT_DIR/<name>.paused`` and waits until
  ``$SYNCTOOL_FAULT_DIR/<name>.release`` exists (at most a minute), so a test
  can kill the process or let the client's read timeout expire in the middle
  of a stream.
"""

import os
import time
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import include, path, re_path

from synctool import hookimpl
from tests import urls

PAUSE = "PAUSE-ON-SERVER "


@hookimpl
def transform_object(obj, side):
    title = obj["fields"].get("title")
    if side != "server" or not isinstance(title, str) or not title.startswith(PAUSE):
        return None
    directory = Path(os.environ["SYNCTOOL_FAULT_DIR"])
    name = title.removeprefix(PAUSE)
    (directory / f"{name}.paused").write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not (directory / f"{name}.release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return None


def start(tmp_path, *, workers=2, gunicorn_args="", plugins="tests.plugins"):
    """Start gunicorn with the fault settings; ``server.fault_dir`` is the pause directory."""
    from tests.conftest import start_server

    settings = "--env DJANGO_SETTINGS_MODULE=tests.fault_settings"
    fault_dir = tmp_path / "faults"
    fault_dir.mkdir(exist_ok=True)
    server = start_server(
        tmp_path,
        plugins=plugins,
        workers=workers,
        extra_env={
            "GUNICORN_CMD_ARGS": f"{settings} {gunicorn_args}",
            "SYNCTOOL_FAULT_DIR": str(fault_dir),
        },
    )
    server.fault_dir = fault_dir
    return server


def login_page(request):
    return HttpResponse("<html><form>Log in</form></html>", content_type="text/html")


urlpatterns = [
    path("accounts/login/", login_page),
    re_path(
        r"^private/sync/",
        include(
            [
                re_path(pattern.pattern.regex.pattern, login_required(pattern.callback))
                for pattern in urls.route.urlpatterns
            ]
        ),
    ),
    *urls.urlpatterns,
]
