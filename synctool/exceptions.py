"""The exceptions synctool raises. Every one is a :class:`SynctoolError`.

The management command turns them into a one-line ``CommandError``; tokens
never appear in their messages.
"""

from synctool.text import printable


class SynctoolError(Exception):
    """Base class of every error synctool raises on purpose.

    Its message never holds control characters: much of it can come from the
    server (see :mod:`synctool.text`).
    """

    #: True when the sync had committed its rows before this error (a step after
    #: the commit failed): the data is there, repeating the sync is not needed.
    committed = False
    #: True when the error came out of the sync's open transaction, which it rolled
    #: back (False: it came before anything was written, a refused token say).
    rolled_back = False

    def __init__(self, *args):
        super().__init__(*(printable(arg) if isinstance(arg, str) else arg for arg in args))


class ConfigurationError(SynctoolError):
    """A setting or argument is missing or wrong (no endpoint, bad route spec)."""


class PluginImportError(ConfigurationError):
    """A plugin named in SYNCTOOL_PLUGINS or an entry point failed to import."""


class SameDatabase(ConfigurationError):
    """The server reads from the very database the sync would write."""


class SyncLocked(SynctoolError):
    """Another sync into the same database is running (one sync per database at a
    time); the message names the database and, from the history of syncs, the
    running sync. ``SYNCTOOL_SYNC_LOCK_TIMEOUT`` (``--lock-timeout``) waits for it."""


class SyncCancelled(SynctoolError):
    """The user answered no when asked to confirm a large clean."""


class SchemaMismatch(SynctoolError):
    """This code or database cannot take what the server sends (the schema gate).

    The message lists every difference and what to do: run ``migrate``,
    update the code, or pass ``--ignore-unknown``.
    """


class TransportError(SynctoolError):
    """The HTTP exchange with the server failed."""


class ServerUnreachable(TransportError):
    """The server could not be reached (after the configured retries)."""


class ServerTimeout(TransportError):
    """The server stopped answering for longer than the read timeout."""


class AuthenticationFailed(TransportError):
    """The server refused the token (401) or the request (403: no token configured,
    or a plugin such as strict scrubbing refused the route)."""


class RouteNotFound(TransportError):
    """The server has no route at that URL (404)."""


class ServerError(TransportError):
    """The server answered with an unexpected HTTP status (5xx and others)."""


class ServerUnavailable(ServerError):
    """The server answered 502, 503 or 504 (busy, in maintenance, or behind a proxy
    that lost it) after the client's own retries: a later attempt may succeed."""


class NotJSONResponse(TransportError):
    """The answer is not JSON: an HTML error page or a login redirect."""


class IncompleteResponse(TransportError):
    """The body ended before the closing bracket: the connection was cut."""


class RedirectRefused(TransportError):
    """The server redirected to another origin, or from https to http."""


class LimitExceeded(SynctoolError):
    """An input passed one of the client's bounds (body, line or file size, nesting,
    gzip ratio, time); the message names the limit and the setting that raises it."""


class PayloadError(SynctoolError):
    """The body arrived but is not a usable fixture."""


class ModelNotAllowed(PayloadError):
    """The server would write models this client does not allow (``SYNCTOOL_CLIENT_ALLOW``)."""


class MalformedResponse(PayloadError):
    """The body is not valid JSON, or not a list of fixture objects."""


class UnexpectedModel(PayloadError):
    """An object belongs to a model the server did not announce."""


class LoadError(SynctoolError):
    """An object could not be built or written into the local database."""


class CleanConflict(LoadError):
    """Clean removed rows that local rows of models outside the route still use."""


class CopyDiffers(SynctoolError):
    """A sync asked to verify its copy committed, and the copy differs from the
    server's rows (see ``Client.verify``)."""

    committed = True


class MediaError(SynctoolError):
    """One media file could not be fetched; the message says why.

    Collected per file in ``SyncResult.media.failed`` (the rows are already
    committed when media are fetched), never raised out of a sync.
    """


class UnsafeMediaName(MediaError, ValueError):
    """A file name that could escape its storage (``..``, an absolute path...)."""


class MediaTooLarge(MediaError):
    """A file larger than ``SYNCTOOL_MEDIA_MAX_BYTES``."""


class MediaDownloadError(MediaError):
    """The HTTP download of a media file failed (status, timeout, cut body)."""


class ExportError(SynctoolError):
    """The server could not serialize a route. The server logs it and, the
    status line being sent already, ends the body with the message and cuts
    it; the client raises this with the server's message."""


class DanglingReference(ExportError):
    """A row points at a row the server's own database does not have."""


class HookError(SynctoolError):
    """A plugin hook raised during a sync."""
