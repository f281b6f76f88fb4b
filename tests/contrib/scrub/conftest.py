"""Fixtures of the scrub tests: the plugin in this process, and server processes
that scrub (and refuse, in strict mode)."""

import json

import pytest

from tests.conftest import start_server, stop_server
from tests.contrib.scrub.helpers import PLUGIN, RULES


@pytest.fixture
def scrubbing(settings):
    """The scrub plugin registered in this process, with RULES."""
    settings.SYNCTOOL_PLUGINS = [*settings.SYNCTOOL_PLUGINS, PLUGIN]
    settings.SYNCTOOL_SCRUB = RULES
    return settings


@pytest.fixture(scope="module")
def scrubbing_server(django_db_setup, django_db_blocker, tmp_path_factory):
    server = start_server(
        tmp_path_factory.mktemp("scrub-server"),
        plugins=PLUGIN,
        extra_env={"SYNCTOOL_E2E_SCRUB": json.dumps(RULES)},
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def strict_server(django_db_setup, django_db_blocker, tmp_path_factory):
    partial = {**RULES, "testapp.author": {"email": "email", "name": "name"}}
    server = start_server(
        tmp_path_factory.mktemp("strict-server"),
        plugins=PLUGIN,
        workers=1,
        extra_env={"SYNCTOOL_E2E_SCRUB": json.dumps(partial), "SYNCTOOL_E2E_SCRUB_STRICT": "1"},
    )
    yield server
    stop_server(server)
