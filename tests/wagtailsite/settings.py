"""A Wagtail site for the subset tests: pages whose ``StreamField`` and rich
text name images and other pages by id, which only Wagtail's reference
index records. Each process gets its database from ``WAGTAILSITE_DATABASE``
(JSON)."""

import json
import os

DATABASES = {"default": json.loads(os.environ["WAGTAILSITE_DATABASE"])}
SECRET_KEY = "synctool-wagtail-tests-not-secret"  # noqa: S105
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "taggit",
    "modelcluster",
    "wagtail",
    "wagtail.admin",
    "wagtail.images",
    "synctool",
    "tests.wagtailsite.articles",
]
ROOT_URLCONF = "tests.wagtailsite.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
STATIC_URL = "/static/"
MEDIA_ROOT = os.environ.get("WAGTAILSITE_MEDIA_ROOT", "/nonexistent")
WAGTAIL_SITE_NAME = "synctool tests"
WAGTAILADMIN_BASE_URL = "http://127.0.0.1"

SYNCTOOL_NATURAL_KEYS = ["auth.User", "auth.Group"]
SYNCTOOL_ROUTES = {
    # A subset: one page and everything it needs.
    "page/(?P<slug>[-a-z0-9]+)": {"queryset": "tests.wagtailsite.articles.routes.page_by_slug"},
}
SYNCTOOL_API_TOKEN = os.environ.get("WAGTAILSITE_TOKEN")
SYNCTOOL_CLIENT_TOKEN = os.environ.get("WAGTAILSITE_TOKEN")
SYNCTOOL_CLIENT_ENDPOINT = os.environ.get("WAGTAILSITE_ENDPOINT")
SYNCTOOL_RETRY_BACKOFF = 0.05
