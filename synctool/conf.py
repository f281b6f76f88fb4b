"""Every ``SYNCTOOL_*`` setting with its default.

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
    # Server: gzip level (1-9) for clients that accept gzip; 0 sends plain JSON.
    # Level 1 keeps most of the size reduction at a fraction of level 6's CPU.
    GZIP_LEVEL = 1

    # Client: the token sent to the server (HTTP Basic user name).
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

    # synctool_contrib.s3: the bucket production media are read from. None
    # (the default) disables the plugin: the HTTP download runs instead.
    S3_BUCKET = None
    # synctool_contrib.s3: key prefix of the media in that bucket ("media/").
    S3_PREFIX = ""
    # synctool_contrib.s3: S3 endpoint URL (None: AWS; set for MinIO, R2, ...).
    S3_ENDPOINT_URL = None
    # synctool_contrib.s3: region of the source bucket (None: boto3's default).
    S3_REGION = None
    # synctool_contrib.s3: credentials (None: boto3's default chain, i.e. the
    # AWS_* environment variables, ~/.aws, instance roles).
    S3_ACCESS_KEY_ID = None
    S3_SECRET_ACCESS_KEY = None
    S3_SESSION_TOKEN = None
    # synctool_contrib.s3: server-side copy when the destination storage is S3
    # on the same endpoint (these credentials then need write access there).
    S3_COPY = True

    # Both sides: models identified by natural key in every route, in addition
    # to contenttypes.ContentType and auth.Permission (always), e.g.
    # ["auth.User", "auth.Group"]. See docs/routes.rst, "Identity".
    NATURAL_KEYS = []

    # Both sides: plugin modules registered with the plugin manager, in
    # addition to the built-in defaults (always registered: sequence resets
    # for every backend, the HTTP media download) and the "synctool" entry
    # points.
    PLUGINS = []

    # Both sides, with synctool_contrib.scrub: scrubbing rules per model label
    # and field name, e.g. {"auth.user": {"email": "email"}, "*": {"ip": "ip"}}.
    SCRUB = {}
    # Both sides, with synctool_contrib.scrub: the key of the deterministic
    # scrubbing (a string); None derives one from SECRET_KEY.
    SCRUB_SECRET = None
    # Server: refuse to serve a route whose models have a likely personal field
    # (email, phone, name, address, IP, birth date...) without a SYNCTOOL_SCRUB rule.
    SCRUB_STRICT = False
    # Both sides, with synctool_contrib.scrub: the Faker locale of fake values;
    # None follows LANGUAGE_CODE (en_US when Faker does not know it).
    SCRUB_LOCALE = None

    class Meta:
        prefix = "synctool"
