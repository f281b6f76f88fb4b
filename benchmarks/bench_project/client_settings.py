"""The client process: ``manage.py sync_data blog`` into its own database."""

import os

from benchmarks.bench_project.settings import *  # noqa: F403
from benchmarks.bench_project.settings import TOKEN

SYNCTOOL_CLIENT_TOKEN = TOKEN
SYNCTOOL_CLIENT_ENDPOINT = os.environ.get("BENCH_ENDPOINT", "http://127.0.0.1:8000/sync/")
SYNCTOOL_TIMEOUT = (10.0, 600.0)
if os.environ.get("BENCH_BATCH_SIZE"):
    SYNCTOOL_BATCH_SIZE = int(os.environ["BENCH_BATCH_SIZE"])
