"""The endpoint as users meet it: HTTPS with a self-signed certificate, scheme
mistakes, plain HTTP to another machine, no token versus a wrong token, and
media failures summarised. Real servers on 127.0.0.1 (TLS made in the test)."""

import io
import ssl
import warnings

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from synctool import exceptions, hookimpl
from synctool.client import Client
from synctool.client.transport import PlainHTTPWarning, plain_http_warning
from synctool.management.commands.sync_data import media_failure_lines
from synctool.result import MediaFailure
from tests.testapp.models import Tag
from tests.utils import ScriptedServer, answer

pytestmark = pytest.mark.django_db

TOKEN = "t0ken-0123456789abcdef"  # noqa: S105
GOOD = b'[\n{"model":"testapp.tag","pk":1,"fields":{"name":"one"}}\n]\n'


def tags(handler):
    answer(body=GOOD, headers={"X-Synctool-Models": "testapp.tag"})(handler)


@pytest.fixture
def secure(certificate, monkeypatch):
    """A TLS server with a self-signed certificate; the CA bundle of the
    environment does not know it."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    key, cert = certificate
    with ScriptedServer() as server:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
        server.routes["/sync/tags"] = tags
        server.https_url = server.url.replace("http://", "https://") + "/sync/"
        server.cert = cert
        yield server


@pytest.fixture
def plain():
    with ScriptedServer() as server:
        server.routes["/sync/tags"] = tags
        yield server


def test_a_self_signed_certificate_is_refused_with_the_way_out(secure, settings):
    settings.SYNCTOOL_RETRIES = 0
    with pytest.raises(exceptions.ServerUnreachable, match="could not be verified") as info:
        Client(api_url=secure.https_url, api_token=TOKEN).sync("tags")
    assert "--ca-bundle" in str(info.value) and "SYNCTOOL_CLIENT_VERIFY" in str(info.value)
    assert Tag.objects.count() == 0


def test_its_bundle_in_the_setting_or_the_option_verifies_it(secure, settings):
    settings.SYNCTOOL_CLIENT_VERIFY = str(secure.cert)
    Client(api_url=secure.https_url, api_token=TOKEN).sync("tags")
    assert Tag.objects.count() == 1
    settings.SYNCTOOL_CLIENT_VERIFY = True
    Tag.objects.all().delete()
    out = io.StringIO()
    call_command(
        "sync_data", "tags", "--ca-bundle", str(secure.cert),
        endpoint=secure.https_url, token=TOKEN, stdout=out,
    )  # fmt: skip
    assert Tag.objects.count() == 1
    assert settings.SYNCTOOL_CLIENT_VERIFY is True  # the option lasts one command


def test_https_to_a_plain_http_port(plain, settings):
    settings.SYNCTOOL_RETRIES = 0
    url = plain.url.replace("http://", "https://") + "/sync/"
    with pytest.raises(exceptions.ServerUnreachable, match="does not speak TLS") as info:
        Client(api_url=url, api_token=TOKEN).sync("tags")
    assert "http://" in str(info.value)


def test_http_to_a_tls_port(secure, settings):
    settings.SYNCTOOL_RETRIES = 0
    with pytest.raises(exceptions.ServerUnreachable, match="https://") as info:
        Client(api_url=secure.url + "/sync/", api_token=TOKEN).sync("tags")
    assert "or an https:// endpoint? then use https://" in str(info.value)


@pytest.mark.parametrize("endpoint", ["example.com/sync/", "ftp://example.com/sync/", "/sync/"])
def test_an_endpoint_without_http_or_https(endpoint):
    with pytest.raises(exceptions.ConfigurationError, match="not an http:// or https:// URL"):
        Client(api_url=endpoint, api_token=TOKEN).sync("tags")


def test_plain_http_to_another_machine_warns_loopback_does_not(plain, settings):
    assert plain_http_warning("http://127.0.0.1:8000/sync/") is None
    assert plain_http_warning("http://localhost/sync/") is None
    assert plain_http_warning("https://example.com/sync/") is None
    assert "plain HTTP" in plain_http_warning("http://example.com/sync/")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Client(api_url=plain.url + "/sync/", api_token=TOKEN).sync("tags")
    assert not [w for w in caught if issubclass(w.category, PlainHTTPWarning)]
    # To another machine (an address nothing answers on): the warning comes first.
    settings.SYNCTOOL_TIMEOUT = (0.3, 0.3)
    settings.SYNCTOOL_RETRIES = 0
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("sync_data", "tags", endpoint="http://192.0.2.1/sync/", token=TOKEN,
                     stderr=err)  # fmt: skip
    assert "warning: http://192.0.2.1/sync/ is plain HTTP" in err.getvalue()


def test_no_token_here_and_a_refused_token_say_different_things(plain):
    def refuse(handler):
        answer(401, b"synctool: a valid token is required.\n", "text/plain")(handler)

    plain.routes["/sync/tags"] = refuse
    with pytest.raises(exceptions.AuthenticationFailed, match="none is configured here") as none:
        Client(api_url=plain.url + "/sync/").sync("tags")
    assert "SYNCTOOL_CLIENT_TOKEN" in str(none.value) and "--token" in str(none.value)
    with pytest.raises(exceptions.AuthenticationFailed, match="refused this token"):
        Client(api_url=plain.url + "/sync/", api_token="wrong-token-0123456789").sync("tags")


def test_media_failures_are_summarised_with_the_media_url():
    failures = [
        MediaFailure(f"posts/{n}.jpg", f"https://cdn/media/posts/{n}.jpg answered HTTP 404")
        for n in range(199)
    ] + [MediaFailure("posts/big.jpg", "is 2000 bytes, more than SYNCTOOL_MEDIA_MAX_BYTES")]
    lines = media_failure_lines(failures, "https://cdn/media/")
    assert len(lines) == 3
    assert lines[0].startswith("media failed: 199 file(s): answered HTTP 404: posts/0.jpg")
    assert lines[0].endswith("and 194 more")
    assert "posts/big.jpg" in lines[1]
    assert lines[2] == (
        "media URL: https://cdn/media/; --media-url (SYNCTOOL_MEDIA_URL) sets another"
    )


def test_with_a_fetch_media_plugin_the_hint_names_it_before_the_media_url(register_plugin):
    class BucketReader:
        @hookimpl
        def fetch_media(self, name, url, storage, field):
            return None

    register_plugin(BucketReader())
    failures = [MediaFailure("posts/a.jpg", "s3://media/posts/a.jpg: NoSuchKey")]
    hint = media_failure_lines(failures, None)[-1]
    assert hint.startswith("media files are fetched by ")
    assert "(fetch_media; its settings say from where)" in hint
    assert hint.endswith(
        "the files it passes on from the media URL: (none); --media-url (SYNCTOOL_MEDIA_URL) "
        "sets another"
    )
