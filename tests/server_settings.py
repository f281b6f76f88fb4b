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
# tests/server/test_limits.py: the server's limits, and its audit lines in its log.
for _name in (
    "MAX_EXPORTS",
    "EXPORT_IDLE_TIMEOUT",
    "EXPORT_RETRY_AFTER",
    "CHUNK_SIZE",
    "API_TOKEN",
):
    if os.environ.get(f"SYNCTOOL_E2E_{_name}"):
        globals()[f"SYNCTOOL_{_name}"] = json.loads(os.environ[f"SYNCTOOL_E2E_{_name}"])
if os.environ.get("SYNCTOOL_E2E_AUDIT"):
    LOGGING = {  # noqa: F405 - replaces the test settings' LOGGING
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"console": {"class": "logging.StreamHandler"}},
        "loggers": {
            "synctool": {"handlers": ["console"], "level": "ERROR"},
            "synctool.audit": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
