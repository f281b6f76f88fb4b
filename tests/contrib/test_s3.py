"""synctool_contrib.s3 against a real S3 endpoint on loopback: moto's server
mode, reached over HTTP by boto3 and django-storages' S3Storage."""

import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer

from synctool.client import Client
from synctool.client.media import fetch_media_files
from synctool_contrib import s3
from tests.client.test_media import HERO, MediaServer, cut_after_half, make_posts, payload
from tests.testapp.models import Post

REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch, tmp_path):
    # Never reach real AWS credentials or configuration.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def boto(moto_endpoint):
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def new_bucket(boto) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    boto.create_bucket(Bucket=name)
    return name


@pytest.fixture
def source(boto, settings, moto_endpoint):
    """The production bucket, with media under "media/", and the plugin enabled."""
    bucket = new_bucket(boto)
    settings.SYNCTOOL_PLUGINS = [*settings.SYNCTOOL_PLUGINS, "synctool_contrib.s3"]
    settings.SYNCTOOL_S3_BUCKET = bucket
    settings.SYNCTOOL_S3_PREFIX = "media"
    settings.SYNCTOOL_S3_ENDPOINT_URL = moto_endpoint
    settings.SYNCTOOL_S3_REGION = REGION
    settings.SYNCTOOL_S3_ACCESS_KEY_ID = "testing"
    settings.SYNCTOOL_S3_SECRET_ACCESS_KEY = "testing"
    settings.SYNCTOOL_MEDIA_URL = None
    return bucket


def s3_storage(settings, bucket: str, endpoint: str) -> None:
    """Make the default storage (that of Post.hero_image) an S3Storage."""
    settings.STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": endpoint,
                "region_name": REGION,
                "access_key": "testing",
                "secret_key": "testing",
                "file_overwrite": False,
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


class CallCounter:
    """Counts the S3 operations the plugin's source client makes (botocore events)."""

    def __init__(self, client):
        self.calls: list[str] = []
        self.client = client
        client.meta.events.register("before-call.s3", self.seen)

    def seen(self, model, **kwargs):
        self.calls.append(model.name)

    def close(self):
        self.client.meta.events.unregister("before-call.s3", self.seen)


@pytest.fixture
def source_calls(source):
    counter = CallCounter(s3.source_client())
    yield counter
    counter.close()


def read(boto, bucket, key) -> bytes:
    return boto.get_object(Bucket=bucket, Key=key)["Body"].read()


def keys(boto, bucket) -> list[str]:
    return sorted(o["Key"] for o in boto.list_objects_v2(Bucket=bucket).get("Contents", []))


# --- S3 -> local disk ---------------------------------------------------------


@pytest.mark.django_db
def test_s3_to_local_storage(boto, source, source_calls, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    names = ["posts/a.jpg", "posts/b c.jpg", "posts/é.png"]
    for name in names:
        boto.put_object(Bucket=source, Key=f"media/{name}", Body=payload(name, 150_000))
    make_posts([*names, ""])
    # No media URL is needed: the plugin reads the bucket.
    result = Client().images(Post.objects.all(), "hero_image")
    assert (result.downloaded, result.skipped, result.failed) == (3, 0, [])
    for name in names:
        assert (tmp_path / "media" / name).read_bytes() == payload(name, 150_000)
    assert sorted(source_calls.calls) == ["GetObject"] * 3
    # Present now: skipped, the bucket is not asked again.
    again = Client().images(Post.objects.all(), "hero_image")
    assert (again.downloaded, again.skipped) == (0, 3)
    assert len(source_calls.calls) == 3


def test_missing_object_and_unsafe_names_are_reported(boto, source, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    boto.put_object(Bucket=source, Key="media/posts/ok.jpg", Body=b"ok")
    boto.put_object(Bucket=source, Key="secret.txt", Body=b"not media")
    items = [(HERO, "posts/ok.jpg"), (HERO, "posts/gone.jpg"), (HERO, "../secret.txt")]
    result = fetch_media_files(items, None)
    assert result.downloaded == 1
    reasons = {f.name: f.reason for f in result.failed}
    assert reasons["posts/gone.jpg"] == f"s3://{source}/media/posts/gone.jpg does not exist"
    assert reasons["../secret.txt"].startswith("refused:")
    assert sorted(p.name for p in (tmp_path / "media").rglob("*")) == ["ok.jpg", "posts"]


def test_s3_size_limit(boto, source, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SYNCTOOL_MEDIA_MAX_BYTES = 1000
    boto.put_object(Bucket=source, Key="media/posts/big.jpg", Body=bytes(1001))
    result = fetch_media_files([(HERO, "posts/big.jpg")], None)
    [failure] = result.failed
    assert "is 1001 bytes, more than SYNCTOOL_MEDIA_MAX_BYTES (1000)" in failure.reason
    assert not (tmp_path / "media/posts/big.jpg").exists()


# --- S3 -> S3 -----------------------------------------------------------------


def test_s3_to_s3_same_endpoint_is_a_server_side_copy(
    boto, source, source_calls, moto_endpoint, settings
):
    destination = new_bucket(boto)
    s3_storage(settings, destination, moto_endpoint)
    names = ["posts/a.jpg", "posts/b c.png"]
    for name in names:
        boto.put_object(
            Bucket=source, Key=f"media/{name}", Body=payload(name, 200_000), ContentType="x/y"
        )
    result = fetch_media_files([(HERO, n) for n in names], None)
    assert (result.downloaded, result.failed) == (2, [])
    for name in names:
        assert read(boto, destination, name) == payload(name, 200_000)
    # Copied by S3 itself: the plugin never read the objects' bytes.
    assert "GetObject" not in source_calls.calls
    assert source_calls.calls.count("CopyObject") == 2
    # The destination storage's write parameters apply (content type from the name).
    head = boto.head_object(Bucket=destination, Key="posts/a.jpg")
    assert head["ContentType"] == "image/jpeg"
    # Skip existing: the second run checks the destination and copies nothing.
    calls = len(source_calls.calls)
    again = fetch_media_files([(HERO, n) for n in names], None)
    assert (again.downloaded, again.skipped) == (0, 2)
    assert len(source_calls.calls) == calls


def test_s3_to_s3_with_a_location_prefix(boto, source, source_calls, moto_endpoint, settings):
    destination = new_bucket(boto)
    s3_storage(settings, destination, moto_endpoint)
    settings.STORAGES["default"]["OPTIONS"]["location"] = "staging-media"
    boto.put_object(Bucket=source, Key="media/posts/a.jpg", Body=b"abc")
    result = fetch_media_files([(HERO, "posts/a.jpg")], None)
    assert (result.downloaded, result.failed) == (1, [])
    assert keys(boto, destination) == ["staging-media/posts/a.jpg"]
    assert source_calls.calls.count("CopyObject") == 1


@pytest.mark.parametrize("reason", ["copy disabled", "other endpoint"])
def test_s3_to_s3_through_the_client(boto, source, source_calls, moto_endpoint, settings, reason):
    destination = new_bucket(boto)
    if reason == "copy disabled":
        settings.SYNCTOOL_S3_COPY = False
        s3_storage(settings, destination, moto_endpoint)
    else:
        # The same moto server under another name stands for another endpoint.
        s3_storage(settings, destination, moto_endpoint.replace("127.0.0.1", "localhost"))
    boto.put_object(Bucket=source, Key="media/posts/a.jpg", Body=payload("a", 100_000))
    result = fetch_media_files([(HERO, "posts/a.jpg")], None)
    assert (result.downloaded, result.failed) == (1, [])
    assert read(boto, destination, "posts/a.jpg") == payload("a", 100_000)
    assert source_calls.calls == ["GetObject"]


# --- HTTP -> S3 ---------------------------------------------------------------


@pytest.fixture
def media_server():
    server = MediaServer().start()
    yield server
    server.stop()


@pytest.mark.django_db
def test_http_to_s3_storage(boto, moto_endpoint, media_server, settings):
    # The s3 plugin is registered but has no bucket: the HTTP default runs.
    settings.SYNCTOOL_PLUGINS = [*settings.SYNCTOOL_PLUGINS, "synctool_contrib.s3"]
    settings.SYNCTOOL_S3_BUCKET = None
    destination = new_bucket(boto)
    s3_storage(settings, destination, moto_endpoint)
    names = ["posts/a.jpg", "posts/with space.png"]
    for name in names:
        media_server.files[name] = payload(name, 120_000)
    media_server.rules["posts/cut.jpg"] = cut_after_half
    media_server.files["posts/cut.jpg"] = payload("cut", 100_000)
    make_posts([*names, "posts/cut.jpg", "posts/missing.jpg", ""])
    settings.SYNCTOOL_RETRIES = 1
    client = Client(media_url=media_server.url)
    result = client.images(Post.objects.all(), "hero_image")
    assert result.downloaded == 2
    assert sorted(f.name for f in result.failed) == ["posts/cut.jpg", "posts/missing.jpg"]
    for name in names:
        assert read(boto, destination, name) == payload(name, 120_000)
    # No partial object for the cut download, and no temporary objects.
    assert keys(boto, destination) == sorted(names)
    requests_before = len(media_server.requests)
    again = client.images(Post.objects.all(), "hero_image")
    assert (again.downloaded, again.skipped) == (0, 2)
    assert len(media_server.requests) == requests_before + 3  # only the failed ones again


def test_plugin_returns_none_when_not_configured(settings):
    settings.SYNCTOOL_S3_BUCKET = None
    assert s3.fetch_media(name="posts/a.jpg", storage=HERO.storage) is None


def test_source_keys_and_client_cache(settings, moto_endpoint):
    settings.SYNCTOOL_S3_PREFIX = ""
    assert s3.source_key("posts/a.jpg") == "posts/a.jpg"
    settings.SYNCTOOL_S3_PREFIX = "media/"
    assert s3.source_key("posts/a.jpg") == "media/posts/a.jpg"
    settings.SYNCTOOL_S3_ENDPOINT_URL = moto_endpoint
    assert s3.source_client() is s3.source_client()
    first = s3.source_client()
    settings.SYNCTOOL_S3_ENDPOINT_URL = moto_endpoint + "/"
    assert s3.source_client() is not first  # settings are read at call time
