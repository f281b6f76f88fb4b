"""The Celery app of the test worker (tests/contrib/test_celery.py), as the
documentation has a project write it: configured from Django's settings
(tests/worker_settings.py), synctool's tasks loaded."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.worker_settings")

app = Celery("synctool_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["synctool_contrib.celery"])
