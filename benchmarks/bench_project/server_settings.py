"""The server process: serves the ``blog`` route (bench.Blog, bench.Post)."""

import os

from benchmarks.bench_project.settings import *  # noqa: F403
from benchmarks.bench_project.settings import TOKEN

SYNCTOOL_API_TOKEN = TOKEN
SYNCTOOL_ROUTES = {"blog": {"models": ["bench.Blog", "bench.Post"]}}
if os.environ.get("BENCH_CHUNK_SIZE"):
    SYNCTOOL_CHUNK_SIZE = int(os.environ["BENCH_CHUNK_SIZE"])
if os.environ.get("BENCH_NO_GZIP"):
    # Answer uncompressed whatever the client accepts (run.py --no-gzip).
    MIDDLEWARE = ["benchmarks.bench_project.middleware.no_gzip"]
