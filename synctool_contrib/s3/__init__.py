"""``fetch_media`` for production media that live in an S3 bucket.

Enable with ``SYNCTOOL_PLUGINS = [..., "synctool_contrib.s3"]`` and set
``SYNCTOOL_S3_BUCKET``. Each file ``name`` is read from the object
``SYNCTOOL_S3_PREFIX + name`` with boto3 and written into the field's own
storage (local disk, S3, anything) through ``storage.save()``, from a
temporary file, so an interrupted download never leaves a partial file.

When the destination storage is django-storages' ``S3Storage`` (or its
alias ``S3Boto3Storage``) on the same endpoint, the object is copied on the
server side instead (``CopyObject``): the bytes never pass through the
client. The copy is signed with the ``SYNCTOOL_S3_*`` credentials, which
then need read access to the source and write access to the destination;
``SYNCTOOL_S3_COPY = False`` moves the bytes through the client instead.

Settings are read at call time; without ``SYNCTOOL_S3_BUCKET`` the hook
returns None and the built-in HTTP download runs. Requires the ``s3`` extra
(``pip install django-synctool[s3]``).
"""

import threading

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from synctool import hookimpl
from synctool.client.media import MediaDownload, MediaError, check_storage_target
from synctool.client.transport import timeout
from synctool_contrib.s3.conf import settings
from synctool_contrib.s3.storage import destination, s3_storage_class

CHUNK_SIZE = 64 * 1024
# The largest object CopyObject copies in one request; larger ones are
# copied part by part (still on the server side).
COPY_OBJECT_LIMIT = 5 * 1024**3

_lock = threading.Lock()
_clients: dict[tuple, object] = {}


class S3MediaError(MediaError):
    pass


def _config() -> tuple:
    connect, read = timeout()
    return (
        settings.SYNCTOOL_S3_ENDPOINT_URL or None,
        settings.SYNCTOOL_S3_REGION or None,
        settings.SYNCTOOL_S3_ACCESS_KEY_ID or None,
        settings.SYNCTOOL_S3_SECRET_ACCESS_KEY or None,
        settings.SYNCTOOL_S3_SESSION_TOKEN or None,
        connect,
        read,
        max(int(settings.SYNCTOOL_RETRIES), 0),
        max(int(settings.SYNCTOOL_MEDIA_WORKERS), 1),
    )


def source_client():
    """The boto3 S3 client for the source bucket (one per configuration, thread-safe)."""
    config = _config()
    with _lock:
        client = _clients.get(config)
        if client is None:
            endpoint, region, key, secret, token, connect, read, retries, workers = config
            session = boto3.session.Session(
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                aws_session_token=token,
                region_name=region,
            )
            client = session.client(
                "s3",
                endpoint_url=endpoint,
                config=Config(
                    connect_timeout=connect,
                    read_timeout=read,
                    retries={"total_max_attempts": retries + 1, "mode": "standard"},
                    max_pool_connections=max(workers, 10),
                ),
            )
            _clients[config] = client
    return client


def source_key(name: str) -> str:
    prefix = settings.SYNCTOOL_S3_PREFIX or ""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix + name


def _same_endpoint(storage) -> bool:
    def normal(url):
        return (url or "").rstrip("/").lower()

    return normal(getattr(storage, "endpoint_url", None)) == normal(
        settings.SYNCTOOL_S3_ENDPOINT_URL
    )


def can_copy(storage) -> bool:
    """Whether a server-side copy into ``storage`` is possible and allowed."""
    s3_storage = s3_storage_class()
    return (
        bool(settings.SYNCTOOL_S3_COPY)
        and s3_storage is not None
        and isinstance(storage, s3_storage)
        and _same_endpoint(storage)
        # A gzipping storage compresses what it saves; a copy would not.
        and not getattr(storage, "gzip", False)
    )


def _describe(exc: Exception, bucket: str, key: str) -> str:
    where = f"s3://{bucket}/{key}"
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchKey", "NotFound"):
            return f"{where} does not exist"
        if code in ("403", "AccessDenied"):
            return f"{where}: access denied"
        return f"{where}: {code or exc}"
    return f"{where}: {exc}"


def _head(client, bucket: str, key: str) -> dict:
    try:
        return client.head_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise S3MediaError(_describe(exc, bucket, key)) from None


def copy(client, bucket: str, key: str, storage, name: str, size: int) -> None:
    """Server-side copy of ``bucket/key`` to ``name`` in the S3 ``storage``."""
    check_storage_target(storage, name)
    dest_bucket, dest_key, params = destination(storage, name)
    source = {"Bucket": bucket, "Key": key}
    try:
        if size <= COPY_OBJECT_LIMIT:
            client.copy_object(
                CopySource=source,
                Bucket=dest_bucket,
                Key=dest_key,
                MetadataDirective="REPLACE",
                **params,
            )
        else:
            client.copy(source, dest_bucket, dest_key, ExtraArgs=params)
    except (ClientError, BotoCoreError) as exc:
        raise S3MediaError(
            f"server-side copy of s3://{bucket}/{key} to s3://{dest_bucket}/{dest_key} "
            f"failed: {_describe(exc, bucket, key)} (SYNCTOOL_S3_COPY = False copies through "
            "the client instead)"
        ) from None


def download(client, bucket: str, key: str, storage, name: str) -> None:
    """Stream ``bucket/key`` into a temporary file, then save it as ``name``."""
    where = f"s3://{bucket}/{key}"
    with MediaDownload(storage, name, what=where) as target:
        try:
            response = client.get_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise S3MediaError(_describe(exc, bucket, key)) from None
        body = response["Body"]
        try:
            target.check_size(response.get("ContentLength"))
            # botocore checks the length at the end: a cut body raises.
            target.write_all(body.iter_chunks(CHUNK_SIZE))
        except BotoCoreError as exc:
            raise S3MediaError(f"{where}: the download was cut: {exc}") from None
        finally:
            body.close()
        target.save()


@hookimpl
def fetch_media(name, storage):
    bucket = settings.SYNCTOOL_S3_BUCKET
    if not bucket:
        return None
    client = source_client()
    key = source_key(name)
    if can_copy(storage):
        size = _head(client, bucket, key)["ContentLength"]
        limit = settings.SYNCTOOL_MEDIA_MAX_BYTES
        if limit is not None and size > int(limit):
            raise S3MediaError(
                f"s3://{bucket}/{key} is {size} bytes, more than "
                f"SYNCTOOL_MEDIA_MAX_BYTES ({limit}); not copied"
            )
        copy(client, bucket, key, storage, name, size)
    else:
        download(client, bucket, key, storage, name)
    return True
