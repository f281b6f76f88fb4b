"""A CMS-style project for the identity tests: a page tree with multi-table
inheritance (django-treebeard), tags through a GenericForeignKey
(django-taggit), documents with files, comments on anything, group
permissions on pages, django-reversion's versions of comments and groups;
content types, permissions and users referenced from everywhere. Each
process gets its database from ``CMS_DATABASE`` (JSON)."""

import json
import os

DATABASES = {"default": json.loads(os.environ["CMS_DATABASE"])}
SECRET_KEY = "synctool-cms-tests-not-secret"  # noqa: S105
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "taggit",
    "treebeard",
    "mptt",
    "reversion",
    "synctool",
    "tests.cms.documents",
    "tests.cms.pages",
    "tests.cms.notes",
    "tests.cms.topics",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.cms.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
MEDIA_ROOT = os.environ.get("CMS_MEDIA_ROOT", "/nonexistent")
MEDIA_URL = "/media/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.request",
            ]
        },
    }
]

# Both sides share these settings, as a real project's do.
SYNCTOOL_NATURAL_KEYS = ["auth.User", "auth.Group"]
SYNCTOOL_ROUTES = {
    "users": {"app": "auth"},
    "pages": {"apps": ["pages", "taggit"]},
    "documents": "documents",
    "topics": "topics",
    "history": "reversion",
    "site": {"project": True, "exclude": ["notes"]},
    # A subset: one page and everything it needs.
    "page/(?P<slug>[-a-z0-9]+)": {
        "queryset": "tests.cms.pages.routes.page_by_slug",
        "follow": ["tagged_items"],  # django-taggit's generic relation
    },
    # A subset of a django-mptt tree: a topic and its ancestors.
    "topic/(?P<slug>[-a-z0-9]+)": {"queryset": "tests.cms.pages.routes.topic_by_slug"},
}
SYNCTOOL_API_TOKEN = os.environ.get("CMS_TOKEN")
SYNCTOOL_CLIENT_TOKEN = os.environ.get("CMS_TOKEN")
SYNCTOOL_CLIENT_ENDPOINT = os.environ.get("CMS_ENDPOINT")
SYNCTOOL_MEDIA_URL = os.environ.get("CMS_MEDIA_URL")
SYNCTOOL_RETRY_BACKOFF = 0.05
