"""Every ``SYNCTOOL_*`` setting of the core, with its default.

Contrib plugins keep theirs in their own ``conf`` module
(``synctool_contrib.scrub.conf``, ``synctool_contrib.s3.conf``).

Other modules read settings as ``settings.SYNCTOOL_X`` at call time (never
copied into module globals), so ``override_settings`` works in tests.
"""

from appconf import AppConf
from django.conf import settings

__all__ = ["settings", "SynctoolConf"]


class SynctoolConf(AppConf):
    # Server: the token (or list of tokens, to allow rotation) a client must
    # present. None or empty means every request is refused.
    API_TOKEN = None
    # Server: routes served by include("synctool.urls"); see docs/routes.rst.
    ROUTES = {}
    # Server: rows fetched per database round trip while streaming a route.
    CHUNK_SIZE = 2000
    # Server: seconds the snapshot of a route may stay idle (a client that stops
    # reading) before the database ends it; None: the database's own setting.
    EXPORT_IDLE_TIMEOUT = 60
    # Server: seconds a route's snapshot may last in all (PostgreSQL 17+,
    # MariaDB's statements); None: no limit.
    EXPORT_TIMEOUT = None
    # Server: routes streamed at once per server process (None: no limit); one
    # more request gets 503 with Retry-After: SYNCTOOL_EXPORT_RETRY_AFTER.
    MAX_EXPORTS = 4
    EXPORT_RETRY_AFTER = 30
    # Server: gzip level (1-9) for clients that accept gzip; 0 sends plain JSON.
    # Level 1 keeps most of the size reduction at a fraction of level 6's CPU.
    GZIP_LEVEL = 1
    # Server: largest incremental state a client may POST, in bytes, compressed
    # and inflated (about 17 bytes a row: 200,000 rows are 3.4 MB).
    MAX_STATE_BYTES = 512 * 1024**2

    # Client: the token sent to the server (as Authorization: Bearer).
    CLIENT_TOKEN = None
    # Client: base URL of the server's routes, e.g. "https://example.com/sync/".
    CLIENT_ENDPOINT = None
    # Client: base URL the server's media files are served from.
    MEDIA_URL = None
    # Client: (connect, read) timeout in seconds for every HTTP request.
    TIMEOUT = (10.0, 60.0)
    # Client: retries on connection errors and 502/503/504 before the body is used.
    RETRIES = 3
    # Client: exponential backoff factor between retries, in seconds.
    RETRY_BACKOFF = 0.5
    # Client: objects written per INSERT ... ON CONFLICT batch.
    BATCH_SIZE = 2000
    # Client: parallel media downloads.
    MEDIA_WORKERS = 8
    # Client: largest media file accepted, in bytes (None: no limit). A larger
    # announced size is refused before the download, a longer body is stopped.
    MEDIA_MAX_BYTES = 1024**3
    # Client: TLS verification of the server's certificate: True (the system's
    # certificate authorities, or REQUESTS_CA_BUNDLE), a path to a CA bundle
    # (a self-signed certificate), or False (no verification: only for tests).
    CLIENT_VERIFY = True
    # Client: seconds one media file may take, all retries included (None: no limit).
    MEDIA_TIMEOUT = 600
    # Client: the models this client may write: app labels or "app.Model"
    # labels, "*" for every one; None: every model but sessions, the admin's
    # log entries and (unless identified by natural key) users and groups.
    CLIENT_ALLOW = None
    # Client: largest decoded body of a route, in bytes (None: no limit).
    MAX_BODY_BYTES = 100 * 1024**3
    # Client: longest line (one object) of a body, in bytes (None: no limit).
    MAX_LINE_BYTES = 256 * 1024**2
    # Client: how many times a gzip body may inflate beyond its first 16 MiB
    # (honest JSON: 4 to 10; a decompression bomb: thousands). None: no limit.
    MAX_GZIP_RATIO = 200
    # Client: deepest nesting of a value read through the general JSON parser
    # (synctool's own line framing stops at about 1,000 levels anyway).
    MAX_DEPTH = 1000
    # Client: seconds a whole sync may take, every request and body included
    # (None: no limit). The read timeout alone never stops a server that
    # trickles a byte at a time.
    SYNC_TIMEOUT = 6 * 3600
    # Client: longest wait a 503's Retry-After may impose, in seconds.
    MAX_RETRY_AFTER = 60
    # Client: seconds a sync waits for another sync into the same database to
    # finish (one sync per database at a time, see synctool.client.lock);
    # 0: fail at once, None: wait as long as it takes.
    SYNC_LOCK_TIMEOUT = 0

    # Both sides: models identified by natural key in every route, in addition
    # to contenttypes.ContentType and auth.Permission (always), e.g.
    # ["auth.User", "auth.Group"]. See docs/routes.rst, "Identity".
    NATURAL_KEYS = []

    # Both sides: plugin modules registered with the plugin manager, in
    # addition to the built-in defaults (always registered: sequence resets
    # for every backend, the HTTP media download) and the "synctool" entry
    # points.
    PLUGINS = []

    class Meta:
        prefix = "synctool"


def known_settings() -> set[str]:
    """The ``SYNCTOOL_*`` names of the core and of every plugin settings class loaded.

    A plugin declares its settings in an ``AppConf`` with the ``synctool``
    prefix (``synctool_contrib.scrub.conf``); it counts once imported, which
    registering the plugin (or installing its app) does.
    """
    from appconf import AppConf

    names: set[str] = set()
    pending = list(AppConf.__subclasses__())
    while pending:
        conf = pending.pop()
        pending.extend(conf.__subclasses__())
        if getattr(conf._meta, "prefix", None) == "synctool":
            names.update(conf._meta.defaults)
    return names
