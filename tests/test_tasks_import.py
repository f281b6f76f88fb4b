"""synctool.tasks imports without a task framework: Celery's
``autodiscover_tasks()`` imports every installed app's ``tasks`` module, and
a project scheduling with Celery alone must still start its worker."""

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

WITHOUT_FRAMEWORK = textwrap.dedent(
    """
    import sys
    sys.modules["django.tasks"] = None      # as on Django 5.2
    sys.modules["django_tasks"] = None      # without the backport
    import django
    django.setup()
    import importlib
    tasks = importlib.import_module("synctool.tasks")   # what autodiscover_tasks() does
    try:
        tasks.sync.enqueue(["blogs"])
    except ImportError as exc:
        print("refused:", exc)
    """
)


def test_the_tasks_module_imports_without_a_task_framework_and_says_what_to_install():
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_FRAMEWORK],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "refused: synctool.tasks needs Django's task framework" in done.stdout
    assert 'pip install "django-synctool[tasks]"' in done.stdout
