"""Settings of the end-to-end server process: the test settings, with the
``default`` database pointed at the test process's ``server`` database."""

import json
import os

from tests.settings import *  # noqa: F403

DATABASES = {"default": json.loads(os.environ["SYNCTOOL_E2E_DATABASE"])}
DATABASES["default"].pop("TEST", None)
MEDIA_ROOT = os.environ.get("SYNCTOOL_E2E_MEDIA_ROOT", MEDIA_ROOT)  # noqa: F405
SYNCTOOL_PLUGINS = [p for p in os.environ.get("SYNCTOOL_E2E_PLUGINS", "").split(",") if p]
DEBUG = False
if os.environ.get("SYNCTOOL_E2E_NO_TOKEN"):
    SYNCTOOL_API_TOKEN = None
# synctool_contrib.scrub tests: the rules (JSON) and strict mode of the server.
if os.environ.get("SYNCTOOL_E2E_SCRUB"):
    SYNCTOOL_SCRUB = json.loads(os.environ["SYNCTOOL_E2E_SCRUB"])
SYNCTOOL_SCRUB_STRICT = os.environ.get("SYNCTOOL_E2E_SCRUB_STRICT") == "1"
