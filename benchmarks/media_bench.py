"""Media download benchmark: N files of SIZE bytes from a loopback HTTP server.

The files are served on 127.0.0.1 by gunicorn in its own process (gthread
workers: keep-alive and sendfile, as a production web server would; or
``--server http.server`` for ``python -m http.server``, one connection per
file), and fetched with synctool's media step (the built-in
``fetch_media``: streamed to a temporary file, saved through a
FileSystemStorage) into a fresh temporary MEDIA_ROOT for each worker count.

    .venv/bin/python benchmarks/media_bench.py --files 500 --size 100000 --workers 1 8

``--latency 0.02`` makes gunicorn wait 20 ms before each answer, which is
closer to fetching from a server across the Internet than loopback is.
"""

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import django
import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "synctool"],
        DATABASES={},
        USE_TZ=True,
        SYNCTOOL_PLUGINS=[],
    )
    django.setup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_files(directory: Path, count: int, size: int) -> list[str]:
    (directory / "images").mkdir(parents=True)
    names = []
    for i in range(count):
        name = f"images/{i:05d}.jpg"
        (directory / name).write_bytes(os.urandom(size))
        names.append(name)
    return names


def application(environ, start_response):
    """The static file server run by gunicorn: SERVED_ROOT/<path>, nothing else."""
    root = Path(os.environ["MEDIA_BENCH_ROOT"]).resolve()
    time.sleep(float(os.environ.get("MEDIA_BENCH_LATENCY", "0")))  # a simulated network
    path = (root / environ["PATH_INFO"].lstrip("/")).resolve()
    if root not in path.parents or not path.is_file():
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    size = path.stat().st_size
    start_response("200 OK", [("Content-Type", "image/jpeg"), ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](open(path, "rb"), 64 * 1024)  # noqa: SIM115


def serve(directory: Path, server: str, latency: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    if server == "gunicorn":
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--workers",
            "2",
            "--threads",
            "8",
            "--chdir",
            str(Path(__file__).parent),
            "media_bench:application",
        ]
    else:  # http.server, HTTP/1.0: one connection per file
        command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    process = subprocess.Popen(
        command,
        cwd=directory,
        env={**os.environ, "MEDIA_BENCH_ROOT": str(directory), "MEDIA_BENCH_LATENCY": str(latency)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(url, timeout=1)
            return process, url
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)


def run(names: list[str], url: str, workers: int, size: int) -> dict:
    from django.core.files.storage import FileSystemStorage
    from django.db import models
    from django.test import override_settings

    from synctool.client.media import fetch_media_files

    with tempfile.TemporaryDirectory(prefix="media-bench-") as media_root:
        field = models.ImageField(storage=FileSystemStorage(location=media_root))
        with override_settings(SYNCTOOL_MEDIA_WORKERS=workers):
            load = os.getloadavg()[0]
            cpu_before = cpu_seconds()
            started = time.perf_counter()
            result = fetch_media_files([(field, n) for n in names], url)
            seconds = time.perf_counter() - started
            cpu = cpu_seconds() - cpu_before
        if result.failed or result.downloaded != len(names):
            raise SystemExit(f"download failed: {result.failed[:3]}")
        on_disk = sum(p.stat().st_size for p in Path(media_root).rglob("*.jpg"))
        assert on_disk == len(names) * size
    return {
        "workers": workers,
        "files": len(names),
        "seconds": seconds,
        "files_per_s": len(names) / seconds,
        "mb_per_s": on_disk / seconds / 1e6,
        "cpu": cpu,
        "load": load,
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--size", type=int, default=100_000, help="bytes per file")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeat", type=int, default=3, help="runs per worker count (best kept)")
    parser.add_argument(
        "--server",
        choices=["gunicorn", "http.server"],
        default="gunicorn",
        help="gunicorn (gthread, keep-alive, sendfile) or python -m http.server (HTTP/1.0)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds gunicorn waits before each answer, to stand for a real network",
    )
    args = parser.parse_args()
    setup_django()
    with tempfile.TemporaryDirectory(prefix="media-bench-served-") as served:
        names = make_files(Path(served), args.files, args.size)
        process, url = serve(Path(served), args.server, args.latency)
        try:
            print(
                f"{args.files} files of {args.size} bytes from {url} ({args.server}, "
                f"{args.latency * 1000:g} ms added latency), "
                f"best of {args.repeat}, {os.cpu_count()} CPUs"
            )
            print(
                f"{'workers':>7}  {'seconds':>8}  {'files/s':>8}  {'MB/s':>7}  "
                f"{'client CPU s':>12}  {'load':>5}"
            )
            for workers in args.workers:
                best = min(
                    (run(names, url, workers, args.size) for _ in range(args.repeat)),
                    key=lambda r: r["seconds"],
                )
                print(
                    f"{best['workers']:>7}  {best['seconds']:>8.2f}  "
                    f"{best['files_per_s']:>8.0f}  {best['mb_per_s']:>7.1f}  "
                    f"{best['cpu']:>12.2f}  {best['load']:>5.1f}"
                )
            print(
                "client CPU s: user+system seconds of this process during the download; "
                "load: 1-minute load average when the run started."
            )
        finally:
            process.terminate()
            process.wait()


if __name__ == "__main__":
    main()
