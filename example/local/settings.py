"""The demo's "local" project: the same blog app, its own SQLite database and
media folder under example/var/local/, filled by ``manage.py sync_data``."""

import os
from pathlib import Path

EXAMPLE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DEMO_VAR_DIR", EXAMPLE_DIR / "var")) / "local"

SECRET_KEY = "demo-local-not-secret"  # noqa: S105
DEBUG = True
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "synctool",
    "blog",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "db.sqlite3",
    }
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"

# Where to sync from. `sync_data --endpoint/--media-url/--token` override
# them; example/demo.py passes the URLs and sets the token in the environment.
SYNCTOOL_CLIENT_ENDPOINT = os.environ.get("SYNCTOOL_CLIENT_ENDPOINT", "http://127.0.0.1:8000/sync/")
SYNCTOOL_MEDIA_URL = os.environ.get("SYNCTOOL_MEDIA_URL", "http://127.0.0.1:8000/media/")
SYNCTOOL_CLIENT_TOKEN = os.environ.get("SYNCTOOL_CLIENT_TOKEN")
