"""Media files: collect the names of synced files and fetch them in parallel.

Each file goes through the ``fetch_media`` hook (the built-in HTTP download
runs last). Unsafe names are refused per file, empty names and files the
storage already has are skipped, and failures are collected, never raised:
the rows are already committed when media are fetched.

The helpers below (:func:`check_media_name`, :func:`check_storage_target`,
:class:`MediaDownload`) are what the built-in implementations use; a plugin
that writes files itself should use them too.
"""

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.utils import validate_file_name
from django.db import models

from synctool.conf import settings
from synctool.exceptions import MediaDownloadError, MediaError, MediaTooLarge, UnsafeMediaName
from synctool.plugins import get_hooks
from synctool.result import MediaFailure, MediaResult, Progress

MediaItem = tuple[models.FileField, str]

__all__ = [
    "MediaCollector",
    "MediaDownload",
    "MediaError",
    "MediaTooLarge",
    "UnsafeMediaName",
    "check_media_name",
    "check_storage_target",
    "fetch_media_files",
]


def check_media_name(name: str) -> str:
    """Return ``name`` if it is a safe relative storage name, else raise UnsafeMediaName."""
    if not isinstance(name, str) or not name:
        raise UnsafeMediaName("refused: empty name")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise UnsafeMediaName("refused: NUL or control character in the name")
    if "\\" in name:
        raise UnsafeMediaName("refused: backslash in the name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeMediaName("refused: absolute name")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise UnsafeMediaName("refused: '.', '..' or empty path segment in the name")
    try:
        validate_file_name(name, allow_relative_path=True)
    except SuspiciousFileOperation as exc:
        raise UnsafeMediaName(f"refused: {exc}") from None
    return name


def local_root(storage) -> str | None:
    """The resolved root directory of a local storage, or None (S3 and the like)."""
    try:
        location = storage.location
        storage.path(".")
    except (AttributeError, NotImplementedError):
        return None
    return os.path.realpath(location)


def check_storage_target(storage, name: str) -> None:
    """Refuse ``name`` when, on a local storage, it resolves outside the storage root.

    ``FileSystemStorage.path()`` is lexical: a symbolic link inside
    ``MEDIA_ROOT`` (``posts -> /etc``) would make a save land outside it.
    """
    root = local_root(storage)
    if root is None:
        return
    try:
        target = os.path.realpath(storage.path(name))
    except SuspiciousFileOperation as exc:
        raise UnsafeMediaName(f"refused: {exc}") from None
    if not target.startswith(root.rstrip(os.sep) + os.sep):
        raise UnsafeMediaName(
            "refused: the name resolves outside the storage's location (a symbolic link?)"
        )


def max_bytes() -> int | None:
    value = settings.SYNCTOOL_MEDIA_MAX_BYTES
    return None if value is None else int(value)


class _DownloadedFile(File):
    # FileSystemStorage moves a file that has a temporary_file_path() with
    # os.rename(): atomic, so the final name never holds a partial file.
    def temporary_file_path(self) -> str:
        return self.file.name


class MediaDownload:
    """A temporary file for one download, saved under its name only when complete.

    For a local storage the file is created inside the storage's location
    (``.synctool-*.part``) so that saving is an atomic rename; otherwise it
    is an anonymous temporary file uploaded by ``storage.save()``. It is
    removed on exit in every case::

        with MediaDownload(storage, name, what=url) as download:
            download.write_all(chunks)
            download.save()
    """

    def __init__(self, storage, name: str, what: str):
        self.storage = storage
        self.name = name
        self.what = what
        self.limit = max_bytes()
        self.size = 0
        timeout = settings.SYNCTOOL_MEDIA_TIMEOUT
        self.deadline = None if timeout is None else time.monotonic() + float(timeout)
        root = local_root(storage)
        if root is not None:
            os.makedirs(root, exist_ok=True)
            self.file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in __exit__
                dir=root, prefix=".synctool-", suffix=".part", delete=False
            )
        else:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__

    def __enter__(self) -> "MediaDownload":
        return self

    def __exit__(self, *exc_info) -> None:
        self.file.close()
        path = getattr(self.file, "name", None)
        if isinstance(path, str):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def check_size(self, announced: int | None) -> None:
        """Refuse a file whose announced size is over the limit, before reading it."""
        if announced is not None and self.limit is not None and announced > self.limit:
            raise MediaTooLarge(
                f"{self.what} is {announced} bytes, more than "
                f"SYNCTOOL_MEDIA_MAX_BYTES ({self.limit}); not downloaded"
            )

    def restart(self) -> None:
        """Forget what was written (before a retry)."""
        self.file.seek(0)
        self.file.truncate()
        self.size = 0

    def write_all(self, chunks: Iterable[bytes]) -> int:
        """Write ``chunks``; stop as soon as the limit is passed."""
        for chunk in chunks:
            self.size += len(chunk)
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise MediaDownloadError(
                    f"{self.what} took longer than SYNCTOOL_MEDIA_TIMEOUT "
                    f"({settings.SYNCTOOL_MEDIA_TIMEOUT} s); stopped"
                )
            if self.limit is not None and self.size > self.limit:
                raise MediaTooLarge(
                    f"{self.what} sent more than SYNCTOOL_MEDIA_MAX_BYTES "
                    f"({self.limit} bytes); stopped"
                )
            self.file.write(chunk)
        return self.size

    def save(self) -> None:
        """Hand the complete file to the storage under exactly ``name``."""
        self.file.flush()
        self.file.seek(0)
        check_storage_target(self.storage, self.name)
        saved = self.storage.save(self.name, _DownloadedFile(self.file, name=self.name))
        if saved == self.name:
            return
        # The name was taken between the exists() check and now (another
        # field or process wrote it): keep theirs, drop our extra copy.
        self.storage.delete(saved)
        if not self.storage.exists(self.name):
            raise MediaError(f"the storage saved {self.name!r} as {saved!r}; removed it")


def media_url_for(media_url: str | None, name: str) -> str | None:
    """``media_url`` joined with ``name``, percent-quoted; None without a media URL."""
    if not media_url:
        return None
    return media_url.rstrip("/") + "/" + quote(name, safe="/")


def media_fetchers() -> list[str]:
    """The names of the plugins other than the built-in HTTP download that
    implement ``fetch_media`` (``["synctool_contrib.s3"]``)."""
    from synctool.default_plugins import media as http_download

    implementations = get_hooks().fetch_media.get_hookimpls()
    return [impl.plugin_name for impl in implementations if impl.plugin is not http_download]


def media_url_optional() -> bool:
    """Whether a plugin other than the built-in HTTP download implements ``fetch_media``.

    Then a media URL is not required (the S3 plugin reads a bucket instead).
    """
    return bool(media_fetchers())


class MediaCollector:
    """Remembers the file names of written instances (a ``BatchWriter`` callback).

    ``images`` selects the ImageFields, ``files`` every other FileField.
    """

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
                and (self.images if isinstance(field, models.ImageField) else self.files)
            ]
        return self._fields[model]

    def collect(self, model: type[models.Model], instances: list[models.Model]) -> None:
        for field in self.fields_of(model):
            for instance in instances:
                name = getattr(instance, field.attname)
                name = getattr(name, "name", name)
                if name:
                    self.items.add((field, str(name)))


def fetch_one(field: models.FileField, name: str, media_url: str | None) -> str:
    """Fetch one file; return "downloaded" or "skipped", raise on failure."""
    check_media_name(name)
    storage = field.storage
    check_storage_target(storage, name)
    if storage.exists(name):
        return "skipped"
    handled = get_hooks().fetch_media(
        name=name, url=media_url_for(media_url, name), storage=storage, field=field
    )
    if not handled:
        raise MediaError("no fetch_media implementation handled the file")
    return "downloaded"


def _unique(items: Iterable[MediaItem]) -> list[MediaItem]:
    # One download per (storage, name): two fields sharing a storage and a
    # name would otherwise race for the same file.
    seen: dict[tuple[int, str], MediaItem] = {}
    for field, name in items:
        if name:
            seen.setdefault((id(field.storage), name), (field, name))
    return sorted(seen.values(), key=lambda item: item[1])


def describe_failure(exc: Exception) -> str:
    if isinstance(exc, MediaError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def fetch_media_files(
    items: Iterable[MediaItem],
    media_url: str | None,
    progress: Callable[[Progress], None] | None = None,
    *,
    route: str = "",
) -> MediaResult:
    """Fetch every (field, name) in parallel; collect per-file failures.

    ``progress`` gets a ``"media"`` event (for ``route``) when the step
    starts, after each file (fetched, skipped or failed) and at the end.
    """
    result = MediaResult()
    lock = threading.Lock()
    unique = _unique(items)
    started = time.monotonic()

    def report(model: str, done: bool = False) -> None:
        if progress is not None:
            handled = result.downloaded + result.skipped + len(result.failed)
            seconds = time.monotonic() - started if done else 0.0
            progress(
                Progress(
                    "media", model, handled, route=route, total=len(unique), done=done,
                    seconds=seconds,
                )
            )  # fmt: skip

    def run(item: MediaItem) -> None:
        field, name = item
        try:
            outcome = fetch_one(field, name, media_url)
        except Exception as exc:  # one bad file never stops the others
            with lock:
                result.failed.append(MediaFailure(name, describe_failure(exc)))
                report(str(field.model._meta))
            return
        with lock:
            if outcome == "skipped":
                result.skipped += 1
            else:
                result.downloaded += 1
            report(str(field.model._meta))

    report("")
    workers = max(int(settings.SYNCTOOL_MEDIA_WORKERS), 1)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synctool-media")
    try:
        for future in [pool.submit(run, item) for item in unique]:
            future.result()
    except BaseException:
        # Ctrl-C: do not start the files still queued.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    result.failed.sort(key=lambda failure: failure.name)
    report("", done=True)
    return result
