"""Media files: collect the names of synced files and fetch them in parallel.

Each file goes through the ``fetch_media`` hook (the built-in HTTP download
runs last). Unsafe names are refused per file, empty names and files the
storage already has are skipped, and failures are collected, never raised:
the rows are already committed when media are fetched.
"""

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.utils import validate_file_name
from django.db import models

from synctool.conf import settings
from synctool.plugins import get_hooks
from synctool.result import MediaFailure, MediaResult, Progress

MediaItem = tuple[models.FileField, str]


class UnsafeMediaName(ValueError):
    """A file name that could escape its storage."""


def check_media_name(name: str) -> str:
    """Return ``name`` if it is a safe relative storage name, else raise UnsafeMediaName."""
    if not isinstance(name, str) or not name:
        raise UnsafeMediaName("empty name")
    if "\x00" in name or any(ord(c) < 32 for c in name):
        raise UnsafeMediaName("control character in name")
    if "\\" in name:
        raise UnsafeMediaName("backslash in name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeMediaName("absolute name")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise UnsafeMediaName("'.', '..' or empty path segment in name")
    try:
        validate_file_name(name, allow_relative_path=True)
    except SuspiciousFileOperation as exc:
        raise UnsafeMediaName(str(exc)) from None
    return name


def media_url_for(media_url: str, name: str) -> str:
    return media_url.rstrip("/") + "/" + quote(name, safe="/")


class MediaCollector:
    """Remembers the file names of written instances (a ``BatchWriter`` callback)."""

    def __init__(self, images: bool = True, files: bool = False):
        self.images = images
        self.files = files
        self.items: set[MediaItem] = set()
        self._fields: dict[type[models.Model], list[models.FileField]] = {}

    def fields_of(self, model: type[models.Model]) -> list[models.FileField]:
        if model not in self._fields:
            self._fields[model] = [
                field
                for field in model._meta.concrete_fields
                if isinstance(field, models.FileField)
                and (self.files or (self.images and isinstance(field, models.ImageField)))
            ]
        return self._fields[model]

    def collect(self, model: type[models.Model], instances: list[models.Model]) -> None:
        for field in self.fields_of(model):
            for instance in instances:
                name = getattr(instance, field.attname)
                name = getattr(name, "name", name)
                if name:
                    self.items.add((field, str(name)))


def fetch_one(field: models.FileField, name: str, media_url: str) -> str:
    """Fetch one file; return "downloaded" or "skipped", raise on failure."""
    check_media_name(name)
    storage = field.storage
    if storage.exists(name):
        return "skipped"
    handled = get_hooks().fetch_media(
        name=name, url=media_url_for(media_url, name), storage=storage, field=field
    )
    if not handled:
        raise RuntimeError("no fetch_media implementation handled the file")
    return "downloaded"


def fetch_media_files(
    items: Iterable[MediaItem],
    media_url: str,
    progress: Callable[[Progress], None] | None = None,
) -> MediaResult:
    """Fetch every (field, name) in parallel; collect per-file failures."""
    result = MediaResult()
    items = sorted({(f, n) for f, n in items if n}, key=lambda item: item[1])
    lock = threading.Lock()

    def run(item: MediaItem) -> None:
        field, name = item
        try:
            outcome = fetch_one(field, name, media_url)
        except Exception as exc:  # one bad file never stops the others
            with lock:
                result.failed.append(MediaFailure(name, f"{type(exc).__name__}: {exc}"))
            return
        with lock:
            if outcome == "skipped":
                result.skipped += 1
            else:
                result.downloaded += 1
            if progress is not None:
                done = result.downloaded + result.skipped
                progress(Progress("media", str(field.model._meta), done))

    workers = max(int(settings.SYNCTOOL_MEDIA_WORKERS), 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, items))
    result.failed.sort(key=lambda failure: failure.name)
    return result
