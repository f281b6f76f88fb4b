"""Base settings of the benchmark project.

The database comes from ``BENCH_DATABASE`` (a JSON dict, as in DATABASES),
set by ``benchmarks/run.py`` for every process it starts.
"""

import json
import os

DATABASES = {
    "default": json.loads(os.environ.get("BENCH_DATABASE", "{}"))
    or {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
    }
}
SECRET_KEY = "synctool-benchmarks-not-secret"  # noqa: S105
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["synctool", "benchmarks.bench_project.bench"]
MIDDLEWARE = []
ROOT_URLCONF = "benchmarks.bench_project.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# run.py --natural-keys: blogs travel by natural key (every post refers to its blog so).
SYNCTOOL_NATURAL_KEYS = ["bench.Blog"] if os.environ.get("BENCH_NATURAL_KEYS") else []
TOKEN = "bench-token-0123456789abcdef"  # noqa: S105
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"synctool": {"handlers": ["console"], "level": "ERROR"}},
}
