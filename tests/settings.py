"""Test settings. ``SYNCTOOL_TEST_DB`` picks the backend: sqlite (default),
postgres or mysql. Two databases: ``default`` is the client's, ``server`` the
one the end-to-end server process serves from."""

import os
import tempfile

BACKEND = os.environ.get("SYNCTOOL_TEST_DB", "sqlite")
# Made once, by the process that runs the tests (tests/conftest.py removes it);
# the processes it starts (servers, workers) find it in the environment.
if not os.environ.get("SYNCTOOL_TEST_DIR"):
    os.environ["SYNCTOOL_TEST_DIR"] = tempfile.mkdtemp(prefix="synctool-tests-")
    os.environ["SYNCTOOL_TEST_DIR_MADE_BY"] = str(os.getpid())
TEST_DIR = os.environ["SYNCTOOL_TEST_DIR"]
RUN_ID = os.environ.get("SYNCTOOL_TEST_RUN_ID", "")


def database(role: str) -> dict:
    if BACKEND == "postgres":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "test",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "TEST": {"NAME": f"test_synctool_{role}{RUN_ID}"},
        }
    if BACKEND == "mysql":
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": "test",
            "USER": os.environ.get("MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("MYSQL_PASSWORD", ""),
            "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {
                "NAME": f"test_synctool_{role}{RUN_ID}",
                "CHARSET": "utf8mb4",
                "COLLATION": "utf8mb4_bin",
            },
        }
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(TEST_DIR, f"{role}.sqlite3"),
        "TEST": {"NAME": os.path.join(TEST_DIR, f"test_{role}.sqlite3")},
    }


DATABASES = {"default": database("client"), "server": database("server")}
SECRET_KEY = "synctool-tests-not-secret"  # noqa: S105
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sites",
    "synctool",
    "tests.testapp",
    "tests.shop",
    "tests.fieldtypes",
    "synctool_contrib.scrub",  # its checks and the synctool_scrub_report command
]
SITE_ID = 1
ROOT_URLCONF = "tests.urls"
MIDDLEWARE = []
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
MEDIA_ROOT = os.path.join(TEST_DIR, "media")
MEDIA_URL = "/media/"
SYNCTOOL_API_TOKEN = "test-token-0123456789abcdef"  # noqa: S105
SYNCTOOL_ROUTES = {
    "sites": "sites",
    "blogs": {"models": ["testapp.Blog", "testapp.Post", "testapp.Tag", "testapp.Author"]},
    "blog/(?P<slug>[^/]+)": {"queryset": "tests.routes.blog_by_slug"},
    "users": {"app": "auth", "natural_keys": True},
    "content": {"apps": ["testapp", "shop"], "exclude": ["testapp.comment"]},
    "everything": {"project": True},
    # A subset: the customer, its orders, their items and comments (a generic
    # relation), and every row they reference.
    "customer/(?P<pk>[0-9]+)": {
        "queryset": "tests.routes.customer_by_pk",
        "follow": ["orders", "orders__items", "orders__remarks"],
    },
}
# Users and groups by natural key (the "users" route says so too): the client
# allows them only then (synctool.client.allow).
SYNCTOOL_NATURAL_KEYS = [
    "auth.User",
    "auth.Group",
    "shop.Shelf",
    "shop.Category",
    "fieldtypes.NaturalItem",
]
SYNCTOOL_RETRY_BACKOFF = 0.05
# Django's test client never closes a streaming response the test does not
# read, so places would be given back only when the garbage collector runs;
# the cap is tested on its own (tests/server/test_limits.py).
SYNCTOOL_MAX_EXPORTS = None
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"synctool": {"handlers": ["console"], "level": "ERROR"}},
}
