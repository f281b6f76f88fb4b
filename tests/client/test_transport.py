"""Client errors against a scripted HTTP server on 127.0.0.1: each failure has
its own SynctoolError subclass, names the URL and leaves the database as it was."""

import gzip
import threading

import pytest

from synctool import exceptions
from synctool.client import Client
from tests.shop.models import Shelf
from tests.testapp.models import Tag
from tests.utils import ScriptedServer, answer, database_digest

pytestmark = pytest.mark.django_db

TAGS = "testapp.tag"
GOOD = (
    b'[\n{"model":"testapp.tag","pk":1,"fields":{"name":"one"}},\n'
    b'{"model":"testapp.tag","pk":2,"fields":{"name":"two"}}\n]\n'
)


@pytest.fixture
def server():
    with ScriptedServer() as scripted:
        yield scripted


@pytest.fixture
def client(server):
    return Client(api_url=server.url + "/sync/", api_token="t0ken-0123456789abcdef")


@pytest.fixture
def unchanged():
    Tag.objects.create(name="local")
    before = database_digest("default", app_labels=("testapp",))
    yield
    assert database_digest("default", app_labels=("testapp",)) == before


def fixture(body=GOOD, models=TAGS, **kwargs):
    return answer(body=body, headers={"X-Synctool-Models": models}, **kwargs)


def test_good_answer_loads(server, client):
    server.routes["/sync/tags"] = fixture()
    result = client.sync("tags")
    assert list(Tag.objects.values_list("name", flat=True)) == ["one", "two"]
    assert result.bytes_received == len(GOOD)


def test_gzip_answer_loads(server, client):
    server.routes["/sync/tags"] = answer(
        body=gzip.compress(GOOD), headers={"X-Synctool-Models": TAGS, "Content-Encoding": "gzip"}
    )
    client.sync("tags")
    assert Tag.objects.count() == 2


@pytest.mark.parametrize(
    ("responder", "error", "message"),
    [
        (
            answer(500, b"<html>Server Error</html>", "text/html"),
            exceptions.ServerError,
            "HTTP 500",
        ),
        (answer(200, b"<html>Welcome</html>", "text/html"), exceptions.NotJSONResponse, "not JSON"),
        (answer(401, b""), exceptions.AuthenticationFailed, "refused this token"),
        (answer(403, b"no"), exceptions.AuthenticationFailed, "refused the request"),
        (answer(200, b"[\n]\n"), exceptions.MalformedResponse, "X-Synctool-Models"),
        (
            fixture(b'[\n{"model":"testapp.tag","pk":1,"fields":{"name":"x"}\n]\n'),
            exceptions.MalformedResponse,
            "not valid JSON",
        ),
        (fixture(b'{"not": "a list"}'), exceptions.MalformedResponse, "not a JSON list"),
        (
            fixture(b'[\n{"model":"testapp.tag","pk":1}\n]\n'),
            exceptions.MalformedResponse,
            "not a fixture object",
        ),
        (fixture(GOOD, models="testapp.blog"), exceptions.UnexpectedModel, "testapp.tag"),
        (
            fixture(GOOD, models="nosuch.model"),
            exceptions.SchemaMismatch,
            "nosuch.model: production sends this model, which this code does not have",
        ),
        (
            fixture(GOOD[: GOOD.index(b"\n]")] + b"\n"),
            exceptions.IncompleteResponse,
            "closing bracket",
        ),
        (fixture(GOOD, close_after=40), exceptions.IncompleteResponse, "cut"),
        (
            fixture(GOOD.replace(b'"name":"one"', b'"name":"one","colour":"red"')),
            exceptions.LoadError,
            "colour",
        ),
        (
            fixture(GOOD.replace(b'"name":"one"', b'"name":"' + b"x" * 80 + b'"')),
            exceptions.LoadError,
            "80 characters, the local field allows 50",
        ),
        (fixture(GOOD.replace(b'"pk":2', b'"pk":"two"')), exceptions.LoadError, "two"),
    ],
)
def test_failures(server, client, unchanged, responder, error, message):
    server.routes["/sync/tags"] = responder
    with pytest.raises(error, match=message) as info:
        client.sync("tags")
    assert f"{server.url}/sync/tags" in str(info.value)


def test_login_redirect_is_not_json(server, client, unchanged):
    server.routes["/sync/tags"] = answer(302, headers={"Location": "/accounts/login/"})
    server.routes["/accounts/login/"] = answer(200, b"<form>login</form>", "text/html")
    with pytest.raises(exceptions.NotJSONResponse, match="login"):
        client.sync("tags")


def test_502_and_503_are_retried_then_succeed(server, client, settings):
    settings.SYNCTOOL_RETRIES = 3
    statuses = iter([502, 503])

    def flaky(handler):
        if handler.command == "HEAD":
            return fixture()(handler)
        status = next(statuses, None)
        if status is None:
            return fixture()(handler)
        return answer(status, b"busy", "text/plain")(handler)

    server.routes["/sync/tags"] = flaky
    client.sync("tags")
    assert Tag.objects.count() == 2
    assert server.requests.count("/sync/tags") == 3


def test_retries_give_up(server, client, settings, unchanged):
    settings.SYNCTOOL_RETRIES = 2
    server.routes["/sync/tags"] = answer(503, b"down", "text/plain")
    # A passing condition, unlike a 500: a later attempt (a task's retry) may succeed.
    with pytest.raises(exceptions.ServerUnavailable, match="503") as raised:
        client.sync("tags")
    assert raised.value.committed is False
    # The HEAD asked first gave up: no GET was sent.
    assert server.heads.count("/sync/tags") == 3
    assert server.requests.count("/sync/tags") == 0


def test_read_timeout_is_honoured(server, client, settings, unchanged):
    settings.SYNCTOOL_TIMEOUT = (2, 0.3)
    release = threading.Event()

    def stalls(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("X-Synctool-Models", TAGS)
        handler.send_header("Content-Length", str(len(GOOD)))
        handler.end_headers()
        handler.wfile.write(GOOD[:20])
        handler.wfile.flush()
        release.wait(10)

    server.routes["/sync/tags"] = stalls
    try:
        with pytest.raises(exceptions.ServerTimeout, match="0.3 s"):
            client.sync("tags")
    finally:
        release.set()


def test_silent_server_before_headers(server, client, settings, unchanged):
    settings.SYNCTOOL_TIMEOUT = 0.3
    settings.SYNCTOOL_RETRIES = 0
    release = threading.Event()
    server.routes["/sync/tags"] = lambda handler: release.wait(10)
    try:
        with pytest.raises(exceptions.ServerTimeout, match="did not answer"):
            client.sync("tags")
    finally:
        release.set()


def test_a_unique_clash_names_the_model_the_rows_and_the_key(server, client):
    """Tag.name is unique: a local tag holds the name an arriving tag has."""
    from django.db import connection

    Tag.objects.create(pk=50, name="two")
    before = database_digest("default", app_labels=("testapp",))
    server.routes["/sync/tags"] = fixture()
    with pytest.raises(exceptions.LoadError) as info:
        client.sync("tags")
    message = str(info.value)
    assert "testapp.Tag" in message
    if connection.vendor == "sqlite":
        assert "pk=2 has name='two', which local row pk=50 has too" in message
    elif connection.vendor == "postgresql":
        assert "Key (name)=(two) already exists" in message
    else:
        assert "Duplicate entry 'two'" in message
    # Updated in place, a local tag of its own (or a name that moved between
    # tags on production) clashes: say both, and what replaces them.
    assert "a row here already holds that value: a row of this database's own" in message
    assert message.endswith(
        "--clean or --incremental replace the route's rows, the local ones included"
    )
    assert database_digest("default", app_labels=("testapp",)) == before


def test_a_unique_clash_of_a_row_matched_by_natural_key_says_what_stands_in_the_way(server, client):
    """Shelves are matched by natural key (aisle, number) and never deleted by a
    sync: production moved label 'X' to shelf A-1 (new here), and the local
    shelf B-9, gone from production, still has it."""
    from django.db import connection

    stale = Shelf.objects.create(aisle="B", number=9, label="X")
    before = database_digest("default", app_labels=("shop",))
    server.routes["/sync/shelves"] = fixture(
        body=b'[\n{"model":"shop.shelf","fields":{"number":1,"aisle":"A","label":"X"}}\n]\n',
        models="shop.shelf",
    )
    with pytest.raises(exceptions.LoadError) as info:
        client.sync("shelves", clean=True)
    message = str(info.value)
    assert "/sync/shelves: shop.Shelf: the database refused a batch of 1 rows" in message
    if connection.vendor == "sqlite":
        assert (
            f"natural key ['A', 1] has label='X', which local row pk={stale.pk} "
            "(natural key ['B', 9]) has too"
        ) in message
    assert message.endswith(
        "shop.Shelf rows are matched by natural key and a sync never deletes them here: a "
        "local row still holding a value production has moved to another row (a rename, two "
        "values swapped, a row deleted there) stands in the way: change or delete that row "
        "here, then sync again"
    )
    assert database_digest("default", app_labels=("shop",)) == before


def test_a_clashing_row_that_exists_here_is_named_by_its_natural_key(server, client):
    """Shelf B-9 exists here (under a local id) and production gave it label
    'Y', which local shelf C-3 still has: both are named by natural key."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL and MySQL name the value, not the rows")
    moved = Shelf.objects.create(aisle="B", number=9)
    stale = Shelf.objects.create(aisle="C", number=3, label="Y")
    server.routes["/sync/shelves"] = fixture(
        body=b'[\n{"model":"shop.shelf","fields":{"number":9,"aisle":"B","label":"Y"}}\n]\n',
        models="shop.shelf",
    )
    with pytest.raises(exceptions.LoadError) as info:
        client.sync("shelves")
    assert (
        f"natural key ['B', 9] (pk={moved.pk} here) has label='Y', which local row "
        f"pk={stale.pk} (natural key ['C', 3]) has too"
    ) in str(info.value)


@pytest.mark.django_db(transaction=True)
def test_a_clash_of_values_alike_but_for_case_names_the_collation(server, client):
    """MariaDB/MySQL under a case-insensitive collation: production's labels
    'x' and 'X' are two values there and one here. The message says so,
    not that a local row holds a moved value."""
    from django.db import connection

    if connection.vendor != "mysql":
        pytest.skip("a column's collation that ignores case: MySQL and MariaDB")
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE shop_shelf MODIFY label varchar(20) "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL"
        )
    try:
        server.routes["/sync/shelves"] = fixture(
            body=(
                b'[\n{"model":"shop.shelf","fields":{"number":1,"aisle":"A","label":"x"}},\n'
                b'{"model":"shop.shelf","fields":{"number":2,"aisle":"A","label":"X"}}\n]\n'
            ),
            models="shop.shelf",
        )
        with pytest.raises(exceptions.LoadError) as info:
            client.sync("shelves")
        message = str(info.value)
        assert "this database compares label without regard to case" in message
        assert "'X' and 'x' are one value here" in message or "'x' and 'X'" in message
        assert "change or delete that row" not in message
        assert not Shelf.objects.exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE shop_shelf MODIFY label varchar(20) "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL"
            )
