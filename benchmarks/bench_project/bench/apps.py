import importlib
import os

from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "benchmarks.bench_project.bench"
    label = "bench"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        # ``run.py --patch MODULE``: import experimental monkeypatches in the
        # server and the client processes alike (measurements only).
        for name in filter(None, os.environ.get("BENCH_PATCHES", "").split(",")):
            importlib.import_module(name)
