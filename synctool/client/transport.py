"""HTTP for the client: one session with timeouts and retries, and the
mapping of every failure to a :class:`~synctool.exceptions.SynctoolError`.

Retries (connection errors, 502/503/504) are urllib3's ``Retry``; they only
happen before the body is used. Messages name the URL, never the token.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError
from urllib3.util.retry import Retry

import synctool
from synctool.conf import settings
from synctool.exceptions import (
    AuthenticationFailed,
    ConfigurationError,
    IncompleteResponse,
    LimitExceeded,
    MalformedResponse,
    NotJSONResponse,
    RedirectRefused,
    RouteNotFound,
    ServerError,
    ServerTimeout,
    ServerUnavailable,
    ServerUnreachable,
)
from synctool.text import printable
from synctool.wire import gunzip_chunks

READ_CHUNK_SIZE = 64 * 1024
RETRY_STATUSES = (502, 503, 504)


def safe_url(url: str) -> str:
    """``url`` without any user:password part, for messages and logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def session_with(retry: Retry) -> requests.Session:
    """A session with synctool's User-Agent, retrying as ``retry`` says, verifying
    TLS certificates as ``SYNCTOOL_CLIENT_VERIFY`` says."""
    adapter = HTTPAdapter(max_retries=retry)
    session = requests.Session()
    verify = settings.SYNCTOOL_CLIENT_VERIFY
    if verify is not True:
        session.verify = verify
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = f"synctool/{synctool.__version__}"
    return session


class CappedRetry(Retry):
    """urllib3's ``Retry``, honouring ``Retry-After`` for at most
    ``SYNCTOOL_MAX_RETRY_AFTER`` seconds (a server in maintenance must not
    hold a sync for hours)."""

    def increment(self, method=None, url=None, response=None, error=None, **kwargs):
        """Retry a connection the server closed without answering (a worker
        restarting), but not a read that timed out (it would double the
        wait), nor a POST whose body may be partly sent (a streamed state
        cannot be sent twice)."""
        if isinstance(error, ReadTimeoutError) or (
            isinstance(error, ProtocolError) and (method or "").upper() == "POST"
        ):
            raise error
        return super().increment(method, url, response, error, **kwargs)

    def get_retry_after(self, response):
        seconds = super().get_retry_after(response)
        cap = settings.SYNCTOOL_MAX_RETRY_AFTER
        return seconds if seconds is None or cap is None else min(seconds, float(cap))


def build_session(token: str | None) -> requests.Session:
    """A session that retries connection errors and 502/503/504 with backoff.

    It carries the deadline of the sync it serves (``SYNCTOOL_SYNC_TIMEOUT``
    from now): every request and every chunk of a body checks it.
    """
    retry = CappedRetry(
        total=settings.SYNCTOOL_RETRIES,
        connect=settings.SYNCTOOL_RETRIES,
        read=settings.SYNCTOOL_RETRIES,  # a dropped connection; not a timeout (increment)
        status=settings.SYNCTOOL_RETRIES,
        status_forcelist=RETRY_STATUSES,
        # POST only carries an incremental state: it reads, like GET.
        allowed_methods=frozenset({"GET", "HEAD", "POST"}),
        backoff_factor=settings.SYNCTOOL_RETRY_BACKOFF,
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    session = session_with(retry)
    limit = settings.SYNCTOOL_SYNC_TIMEOUT
    session.synctool_deadline = None if limit is None else time.monotonic() + float(limit)
    session.headers["Accept-Encoding"] = "gzip"
    if token:
        # Bearer rather than Basic: web servers write the Basic user name in
        # their access logs (gunicorn's %(u)s, Apache's %u, nginx's
        # $remote_user), and the token is that user name. The server accepts
        # both, so `curl -u TOKEN:` keeps working.
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def timeout() -> tuple[float, float]:
    value = settings.SYNCTOOL_TIMEOUT
    if isinstance(value, int | float):
        return (float(value), float(value))
    return tuple(value)


def tls_failure(shown: str, url: str, exc: Exception) -> str:
    """A TLS failure in the project's words: a certificate that cannot be
    verified, or a server that does not speak TLS on that port."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return (
            f"the certificate of {shown} could not be verified (self-signed, or an unknown "
            "authority): pass --ca-bundle PATH (or set SYNCTOOL_CLIENT_VERIFY to the path of "
            "the certificate authority's bundle)"
        )
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text or "record layer" in text:
        return (
            f"{shown} does not speak TLS on that port: is it an http:// endpoint? "
            f"(use {'http://' + url.removeprefix('https://')} only on a trusted network)"
        )
    if "hostname" in text.lower() and "match" in text.lower():
        return f"the certificate of {shown} is for another host name"
    return f"TLS with {shown} failed: {text}"


def _not_http(reason) -> bool:
    """Whether a connection failure looks like a TLS server answering plain HTTP."""
    text = repr(reason)
    signs = ("BadStatusLine", "RemoteDisconnected", "ConnectionResetError", "\\x15\\x03")
    return any(sign in text for sign in signs)


LOOPBACK = ("localhost", "127.0.0.1", "::1")


class PlainHTTPWarning(UserWarning):
    """The endpoint is plain HTTP to another machine (see :func:`plain_http_warning`)."""


def plain_http_warning(url: str) -> str | None:
    """A warning for a plain-HTTP endpoint that is not this machine, else None."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if (
        parts.scheme != "http"
        or host in LOOPBACK
        or host.startswith("127.")
        or host.endswith(".localhost")
    ):
        return None
    return (
        f"{safe_url(url)} is plain HTTP: the token and the data travel unencrypted "
        "to another machine; use an https:// endpoint"
    )


def check_scheme(url: str, what: str) -> None:
    """Refuse an endpoint without ``http://`` or ``https://`` (a common slip)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"{what} {safe_url(url)!r} is not an http:// or https:// URL: "
            f"write it as https://{safe_url(url).split('://')[-1].lstrip('/')}"
        )


def _describe(response: requests.Response) -> str:
    kind = response.headers.get("Content-Type", "no content type").split(";")[0]
    hops = [safe_url(r.headers.get("Location", "")) for r in response.history]
    redirected = f", after a redirect to {hops[-1]}" if hops else ""
    return f"HTTP {response.status_code} ({kind}{redirected})"


def check_response(response: requests.Response, url: str) -> None:
    """Raise the matching error unless ``response`` is a synctool fixture."""
    shown = safe_url(url)
    status = response.status_code
    if status == 401:
        if "Authorization" not in response.request.headers:
            raise AuthenticationFailed(
                f"{shown} needs a token and none is configured here: set "
                "SYNCTOOL_CLIENT_TOKEN, pass --token, or Client(api_token=...) "
                f"({_describe(response)})"
            )
        raise AuthenticationFailed(
            f"{shown} refused this token: {_describe(response)}: the token is wrong "
            "(or was rotated out on the server)"
        )
    if status == 403:
        detail = response.headers.get("X-Synctool-Reason") or response.text[:300].strip()
        raise AuthenticationFailed(f"{shown} refused the request: {_describe(response)}: {detail}")
    if status == 404:
        raise RouteNotFound(f"{shown} has no synctool route there (HTTP 404)")
    if status == 400 and "HTTPS port" in response.text[:500]:
        https = "https://" + shown.removeprefix("http://")
        raise ServerError(f"{shown} is an HTTPS port (HTTP 400): use {https}")
    if status in RETRY_STATUSES:
        # synctool's own 503 (the export cap reached) says why; a proxy's does not.
        reason = printable(response.headers.get("X-Synctool-Reason", ""))[:300]
        raise ServerUnavailable(
            f"{shown} answered {_describe(response)}" + (f": {reason}" if reason else "")
        )
    if status >= 300:
        # synctool's own errors (a route it cannot serve) say why in a header.
        reason = printable(response.headers.get("X-Synctool-Reason", ""))[:300]
        raise ServerError(
            f"{shown} answered {_describe(response)}" + (f": {reason}" if reason else "")
        )
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if content_type != "application/json":
        hint = " (a login page?)" if response.history else ""
        raise NotJSONResponse(f"{shown} answered {_describe(response)}, not JSON{hint}")


def check_deadline(session: requests.Session, url: str) -> None:
    """Raise LimitExceeded once the sync has run longer than ``SYNCTOOL_SYNC_TIMEOUT``."""
    deadline = getattr(session, "synctool_deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise LimitExceeded(
            f"{safe_url(url)}: the sync has run for more than {settings.SYNCTOOL_SYNC_TIMEOUT:g} s "
            "(a server that sends too slowly?); SYNCTOOL_SYNC_TIMEOUT raises the limit"
        )


@dataclass
class Download:
    """An open, checked response whose body has not been read yet."""

    url: str
    response: requests.Response
    bytes_received: int = 0
    session: requests.Session | None = None
    # The body's bytes as they arrived (compressed, when gzip).
    bytes_on_wire: int = 0

    @property
    def announced_models(self) -> list[str]:
        header = self.response.headers.get("X-Synctool-Models")
        if header is None:
            raise MalformedResponse(
                f"{safe_url(self.url)} sent no X-Synctool-Models header: is it a synctool route?"
            )
        return [label.strip().lower() for label in header.split(",") if label.strip()]

    def _labels_header(self, name: str) -> list[str] | None:
        header = self.response.headers.get(name)
        if header is None:
            return None
        return [label.strip().lower() for label in header.split(",") if label.strip()]

    @property
    def announced_parents(self) -> list[str]:
        """The models whose rows come only as parents (empty from an older server)."""
        return self._labels_header("X-Synctool-Parents") or []

    @property
    def announced_cleanable(self) -> list[str] | None:
        """The models ``clean`` may empty; None from an older server (all of them)."""
        return self._labels_header("X-Synctool-Clean")

    @property
    def announced_natural_keys(self) -> list[str]:
        """The models the server identifies by natural key (empty from an older server)."""
        header = self.response.headers.get("X-Synctool-Natural-Keys", "")
        return [label.strip().lower() for label in header.split(",") if label.strip()]

    @property
    def announced_counts(self) -> dict[str, tuple[int, bool]]:
        """``{label: (rows, estimated)}`` the server expects to send (empty if not said)."""
        counts = {}
        for item in self.response.headers.get("X-Synctool-Counts", "").split(","):
            label, _, value = item.strip().partition("=")
            estimated = value.startswith("~")
            try:
                counts[label.lower()] = (max(int(value.lstrip("~")), 0), estimated)
            except ValueError:
                continue
        return counts

    def chunks(self) -> Iterator[bytes]:
        """The decoded body, chunk by chunk; a cut connection raises IncompleteResponse.

        Bounded: ``SYNCTOOL_MAX_BODY_BYTES`` decoded bytes, a gzip ratio of
        ``SYNCTOOL_MAX_GZIP_RATIO``, the sync's deadline.
        """
        encoding = self.response.headers.get("Content-Encoding", "").strip().lower()
        if encoding == "gzip":
            # Decompressed here rather than by urllib3, to use ISA-L when installed.
            body = gunzip_chunks(
                self._read(decode_content=False), max_ratio=settings.SYNCTOOL_MAX_GZIP_RATIO
            )
        else:
            body = self._read(decode_content=True)
        limit = settings.SYNCTOOL_MAX_BODY_BYTES
        for chunk in body:
            self.bytes_received += len(chunk)
            if limit is not None and self.bytes_received > limit:
                raise LimitExceeded(
                    f"{safe_url(self.url)}: the body is larger than {limit} bytes; "
                    "SYNCTOOL_MAX_BODY_BYTES raises the limit"
                )
            if self.session is not None:
                check_deadline(self.session, self.url)
            yield chunk

    def _read(self, *, decode_content: bool) -> Iterator[bytes]:
        shown = safe_url(self.url)
        try:
            for piece in arriving(
                self.response.raw, READ_CHUNK_SIZE, decode_content=decode_content
            ):
                self.bytes_on_wire += len(piece)
                yield piece
        except ReadTimeoutError:
            raise ServerTimeout(
                f"{shown} stopped sending for more than {timeout()[1]:g} s"
            ) from None
        except (ProtocolError, DecodeError, SSLError, OSError) as exc:
            raise IncompleteResponse(f"{shown}: the connection was cut: {exc}") from None

    def close(self) -> None:
        self.response.close()


def arriving(raw, size: int, *, decode_content: bool) -> Iterator[bytes]:
    """The body of a urllib3 response in pieces of at most ``size`` bytes, each as
    soon as it has arrived.

    ``read(size)`` (and so ``iter_content``) waits for a whole piece: a server
    trickling a byte at a time would hold each read for hours, and no
    deadline could be checked between two of them.
    """
    if raw.chunked:
        # One piece per chunk of the transfer encoding, as it arrives.
        yield from raw.stream(size, decode_content=decode_content)
        return
    while data := raw.read1(size, decode_content=decode_content):
        yield data


def open_url(
    session: requests.Session,
    url: str,
    *,
    accept_json: bool = True,
    method: str = "GET",
    body: bytes | IO[bytes] | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> Download:
    """GET (or HEAD, or POST ``body``: bytes, or a file read from its start) ``url``
    with streaming, timeouts and retries; raise on any failure."""
    shown = safe_url(url)
    check_deadline(session, url)
    try:
        response = _request_following_same_origin(session, method, url, body, content_type, headers)
    except requests.exceptions.ConnectTimeout:
        raise ServerUnreachable(f"could not connect to {shown} within {timeout()[0]:g} s") from None
    except requests.exceptions.ReadTimeout:
        raise ServerTimeout(f"{shown} did not answer within {timeout()[1]:g} s") from None
    except requests.exceptions.RetryError as exc:
        raise ServerUnavailable(f"{shown} kept failing after retries: {exc}") from None
    except requests.exceptions.SSLError as exc:
        raise ServerUnreachable(tls_failure(shown, url, exc)) from None
    except requests.exceptions.ConnectionError as exc:
        reason = exc.args[0].reason if exc.args and hasattr(exc.args[0], "reason") else exc
        hint = ""
        if url.startswith("http://") and _not_http(reason):
            https = "https://" + safe_url(url).removeprefix("http://")
            hint = " (it closed the connection without an HTTP answer"
            # A server that answered this sync over http:// is not an https:// one.
            if not getattr(session, "synctool_answered", False):
                hint += f": a server restarting, or an https:// endpoint? then use {https}"
            hint += ")"
        raise ServerUnreachable(f"could not reach {shown}: {reason}{hint}") from None
    except requests.exceptions.RequestException as exc:
        raise ServerUnreachable(f"request to {shown} failed: {exc}") from None
    session.synctool_answered = True
    if accept_json:
        try:
            check_response(response, url)
        except Exception:
            response.close()
            raise
    return Download(url, response, session=session)


MAX_REDIRECTS = 5


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _request_following_same_origin(
    session,
    method: str,
    url: str,
    body: bytes | IO[bytes] | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """The request, following redirects only within the same origin.

    A redirect to another host or port would carry the data (and the
    session's token) elsewhere; one from https to http would carry them in
    the clear; one from http to https of the same host means the URL should
    be the https one. Each is refused with a message saying which.
    """
    current = url
    hops: list[requests.Response] = []
    for _ in range(MAX_REDIRECTS + 1):
        if hasattr(body, "seek"):
            body.seek(0)  # each hop sends the whole body
        response = session.request(
            method,
            current,
            data=body,
            headers={**(headers or {}), **({"Content-Type": content_type} if content_type else {})},
            stream=True,
            timeout=timeout(),
            allow_redirects=False,
        )
        if not response.is_redirect:
            response.history = hops  # as requests keeps it: the messages name the hops
            return response
        hops.append(response)
        target = requests.compat.urljoin(current, response.headers.get("Location", ""))
        response.close()
        here, there = _origin(current), _origin(target)
        if there == here:
            current = target
            continue
        if here[1] == there[1] and (here[0], there[0]) == ("http", "https"):
            raise RedirectRefused(
                f"{safe_url(current)} redirects to {safe_url(target)}: use the https URL "
                "(the token is not sent across a redirect)"
            )
        raise RedirectRefused(
            f"{safe_url(current)} redirects to {safe_url(target)}, "
            + (
                "from https to plain http: refused (the data would travel in the clear)"
                if here[0] == "https" and there[0] == "http"
                else "another server: refused (the data and the token stay with the endpoint)"
            )
        )
    raise RedirectRefused(f"{safe_url(url)} redirected more than {MAX_REDIRECTS} times")
