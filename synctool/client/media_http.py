"""The built-in ``fetch_media`` (:mod:`synctool.default_plugins.media`): download
over HTTP into the field's storage.

The body is streamed into a temporary file and handed to ``storage.save()``
only once complete (see :class:`synctool.client.media.MediaDownload`), so an
interrupted download never leaves a partial file behind, which a later sync
would then skip. Every request has the ``SYNCTOOL_TIMEOUT`` timeouts;
connection errors, read timeouts and 5xx answers are retried
``SYNCTOOL_RETRIES`` times with backoff, and so is a body cut in the middle
(nothing has been saved yet, so the whole file is fetched again).
"""

import threading
import time

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from synctool.client.media import MediaDownload
from synctool.client.transport import arriving, safe_url, session_with, timeout
from synctool.conf import settings
from synctool.exceptions import MediaDownloadError

CHUNK_SIZE = 64 * 1024
RETRY_STATUSES = frozenset(range(500, 600))

_local = threading.local()


def _retry_config() -> tuple[int, float]:
    return max(int(settings.SYNCTOOL_RETRIES), 0), float(settings.SYNCTOOL_RETRY_BACKOFF)


def build_media_session(retries: int, backoff: float) -> requests.Session:
    """A session retrying connection errors, read timeouts and every 5xx."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=backoff,
        raise_on_status=False,
        # A media server in maintenance must not make a sync wait for hours.
        respect_retry_after_header=False,
    )
    return session_with(retry)


def _session() -> requests.Session:
    # requests sessions are not shared between threads; one per worker thread,
    # rebuilt when the retry settings change.
    config = _retry_config()
    if getattr(_local, "config", None) != config:
        if getattr(_local, "session", None) is not None:
            _local.session.close()
        _local.session = build_media_session(*config)
        _local.config = config
    return _local.session


def _announced_length(response: requests.Response) -> int | None:
    if response.headers.get("Content-Encoding", "identity") not in ("", "identity"):
        return None  # the length of the encoded body, not of the file
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _request_failed(exc: requests.RequestException) -> str:
    """A short reason for a request that failed (after its retries)."""
    # After the retries, requests wraps urllib3's MaxRetryError: use its reason.
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", None) or cause
    connect, read = timeout()
    if isinstance(exc, requests.exceptions.ConnectTimeout) or isinstance(
        reason, ConnectTimeoutError
    ):
        return f"could not connect within {connect:g} s"
    if isinstance(exc, requests.exceptions.ReadTimeout) or isinstance(reason, ReadTimeoutError):
        return f"no answer within {read:g} s"
    if isinstance(reason, NewConnectionError):
        return f"could not connect: {reason}"
    return str(reason or exc)


def _download(download: MediaDownload, url: str) -> None:
    """One GET of ``url`` into ``download``; raise MediaDownloadError or _BodyCut."""
    shown = safe_url(url)
    try:
        response = _session().get(url, stream=True, timeout=timeout())
    except requests.RequestException as exc:
        raise MediaDownloadError(f"{shown}: {_request_failed(exc)}") from None
    with response:
        if response.status_code != 200:
            retried = len(response.raw.retries.history) if response.raw.retries else 0
            after = f" (after {retried} retries)" if retried else ""
            raise MediaDownloadError(f"{shown} answered HTTP {response.status_code}{after}")
        announced = _announced_length(response)
        download.check_size(announced)
        try:
            size = download.write_all(arriving(response.raw, CHUNK_SIZE, decode_content=True))
        except (requests.RequestException, ProtocolError, ReadTimeoutError, DecodeError) as exc:
            raise _BodyCut(
                f"{shown}: the download was cut after {download.size} bytes: {exc}"
            ) from None
        if announced is not None and size != announced:
            raise _BodyCut(f"{shown}: got {size} of {announced} bytes")


class _BodyCut(MediaDownloadError):
    """The body ended early: retried from the start."""


def fetch_media(name: str, url: str | None, storage) -> bool:
    """Download ``url`` into ``storage`` as ``name`` (see the module docstring); True."""
    if not url:
        raise MediaDownloadError(
            "no media URL: pass --media-url URL (Client(media_url=...)) or set SYNCTOOL_MEDIA_URL"
        )
    retries, backoff = _retry_config()
    with MediaDownload(storage, name, what=safe_url(url)) as download:
        for attempt in range(retries + 1):
            try:
                _download(download, url)
                break
            except _BodyCut:
                if attempt == retries:
                    raise
                download.restart()
                time.sleep(backoff * (2**attempt))
        download.save()
    return True
