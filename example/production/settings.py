"""The demo's "production" site: the blog on SQLite, serving synctool routes.

Everything it writes lives under example/var/production/ (never committed).
The token comes from the environment, as it should in a real deployment;
``example/demo.py`` generates one per run.
"""

import os
from pathlib import Path

EXAMPLE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DEMO_VAR_DIR", EXAMPLE_DIR / "var")) / "production"

SECRET_KEY = os.environ.get("DEMO_SECRET_KEY", "demo-production-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "synctool",
    "synctool_contrib.scrub",  # its checks and the synctool_scrub_report command
    "blog",
]
MIDDLEWARE = []
ROOT_URLCONF = "production.urls"
WSGI_APPLICATION = "production.wsgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "db.sqlite3",
    }
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"

# The token a client must present (a list of strings allows rotation). Unset
# means every sync request is refused and `manage.py check` reports
# synctool.E001.
SYNCTOOL_API_TOKEN = os.environ.get("SYNCTOOL_API_TOKEN")

# Routes can also be declared here and served by include("synctool.urls");
# production/urls.py mounts these under /settings-sync/.
SYNCTOOL_ROUTES = {
    "tags": {"models": ["blog.Tag"]},
}

# --- Scrubbing the authors' personal data ---------------------------------
# The authors' name, email and phone never leave production as they are:
# synctool_contrib.scrub replaces them in transform_object, on the server,
# before each object is written to the response. The values are fake but
# deterministic (keyed by SYNCTOOL_SCRUB_SECRET, here derived from
# SECRET_KEY), so every sync gives the same ones and unique fields stay unique.
SYNCTOOL_PLUGINS = ["synctool_contrib.scrub"]
SYNCTOOL_SCRUB = {
    "blog.author": {"name": "name", "email": "email", "phone": "phone"},
}
# Refuse to serve a route carrying a likely personal field without a rule
# (`manage.py synctool_scrub_report` lists them).
SYNCTOOL_SCRUB_STRICT = True
