"""A one-app project whose code comes in three versions, each a deploy apart:
``SCHEMA_VERSION=1``, ``2`` or ``3`` picks the models of ``inventory`` and the
migrations that go with them (version 2 adds a column and a model and drops
one; version 3 changes three fields of version 2). Databases come from
``SCHEMA_DATABASE`` (JSON)."""

import json
import os

VERSION = int(os.environ.get("SCHEMA_VERSION", "1"))
DATABASES = {"default": json.loads(os.environ["SCHEMA_DATABASE"])}
SECRET_KEY = "synctool-schema-tests-not-secret"  # noqa: S105
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["synctool", "tests.schemaproj.inventory"]
MIGRATION_MODULES = {"inventory": f"tests.schemaproj.inventory.migrations_v{VERSION}"}
MIDDLEWARE = []
ROOT_URLCONF = "tests.schemaproj.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
MEDIA_ROOT = os.environ.get("SCHEMA_MEDIA_ROOT", "/nonexistent")

SYNCTOOL_ROUTES = {"shop": {"app": "inventory"}}
SYNCTOOL_API_TOKEN = os.environ.get("SCHEMA_TOKEN")
SYNCTOOL_CLIENT_TOKEN = os.environ.get("SCHEMA_TOKEN")
SYNCTOOL_CLIENT_ENDPOINT = os.environ.get("SCHEMA_ENDPOINT")
SYNCTOOL_RETRY_BACKOFF = 0.05
