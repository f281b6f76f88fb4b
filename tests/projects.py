"""Django projects of the test suite run as their own processes: databases on the
suite's backend, ``manage.py`` in a subprocess, gunicorn serving one of them."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests import settings as test_settings
from tests.conftest import ROOT, TOKEN

BACKEND = test_settings.BACKEND


def database(name: str, tmp: Path) -> dict:
    """The settings of a database ``name`` on the suite's backend (created by recreate())."""
    if BACKEND == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp / f"{name}.sqlite3")}
    settings = test_settings.database("client")
    settings.pop("TEST")
    settings["NAME"] = f"test_synctool_{name}{test_settings.RUN_ID}"
    return settings


def recreate(settings: dict) -> None:
    """An empty database (SQLite: no file)."""
    name = settings["NAME"]
    if BACKEND == "sqlite":
        Path(name).unlink(missing_ok=True)
    if BACKEND == "postgres":
        import psycopg

        with psycopg.connect(
            host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname="postgres",
            autocommit=True,
        ) as connection:  # fmt: skip
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
    elif BACKEND == "mysql":
        import MySQLdb

        connection = MySQLdb.connect(
            host=settings["HOST"], port=int(settings["PORT"]), user=settings["USER"],
            password=settings["PASSWORD"],
        )  # fmt: skip
        try:
            cursor = connection.cursor()
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        finally:
            connection.close()


def drop(settings: dict) -> None:
    if BACKEND == "sqlite":
        return
    if BACKEND == "postgres":
        import psycopg

        with psycopg.connect(
            host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname="postgres",
            autocommit=True,
        ) as connection:  # fmt: skip
            connection.execute(f'DROP DATABASE IF EXISTS "{settings["NAME"]}" WITH (FORCE)')
    else:
        import MySQLdb

        connection = MySQLdb.connect(
            host=settings["HOST"], port=int(settings["PORT"]), user=settings["USER"],
            password=settings["PASSWORD"],
        )  # fmt: skip
        try:
            connection.cursor().execute(f"DROP DATABASE IF EXISTS `{settings['NAME']}`")
        finally:
            connection.close()


@dataclass
class Site:
    """One database of a test project, and how to run its manage.py.

    ``prefix`` names the environment variables the project's settings read:
    ``<prefix>_DATABASE`` (JSON), ``_TOKEN``, ``_MEDIA_ROOT``, ``_ENDPOINT``,
    ``_MEDIA_URL``; ``extra`` adds others.
    """

    settings_module: str
    prefix: str
    settings: dict
    media: Path
    endpoint: str = ""
    token: str | None = TOKEN
    extra: dict = field(default_factory=dict)

    def env(self) -> dict:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": self.settings_module,
            "PYTHONPATH": str(ROOT),
            f"{self.prefix}_DATABASE": json.dumps(self.settings),
            f"{self.prefix}_MEDIA_ROOT": str(self.media),
            f"{self.prefix}_ENDPOINT": self.endpoint + "/sync/" if self.endpoint else "",
            f"{self.prefix}_MEDIA_URL": self.endpoint + "/media/" if self.endpoint else "",
            **self.extra,
        }
        if self.token is not None:
            env[f"{self.prefix}_TOKEN"] = self.token
        else:
            env.pop(f"{self.prefix}_TOKEN", None)
        return env

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "django", *args],
            cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if check and done.returncode:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done

    def shell(self, code: str) -> str:
        return self.manage("shell", "--no-imports", "-c", code).stdout
