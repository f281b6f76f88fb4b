"""A route is read in one transaction: one consistent snapshot of the database."""

import datetime
import threading

import pytest
from django.db import connection, connections, transaction

from synctool.server.export import serialize_querysets
from tests.testapp.models import Blog, Post

WHEN = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)

pytestmark = pytest.mark.django_db(transaction=True)


def route_querysets():
    return [Blog.objects.all(), Post.objects.all()]


def make_rows(blogs=3, posts_per_blog=400):
    for number in range(blogs):
        blog = Blog.objects.create(name=f"b{number}", slug=f"b{number}")
        Post.objects.bulk_create(
            Post(blog=blog, title=f"p{i}", created=WHEN) for i in range(posts_per_blog)
        )


def in_another_connection(work):
    """Run ``work`` in a thread: its own connection, committed at once."""
    failures = []

    def run():
        try:
            work()
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not failures, failures


snapshots = pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite is read query by query (no lock on writers)"
)


@snapshots
def test_rows_written_while_a_route_streams_are_not_in_it(settings):
    settings.SYNCTOOL_CHUNK_SIZE = 100  # MySQL reads page by page
    make_rows()
    objects = serialize_querysets(route_querysets())
    first = next(objects)  # the snapshot is taken

    def write():
        blog = Blog.objects.create(name="new", slug="new")
        Post.objects.create(blog=blog, title="new", created=WHEN)
        Post.objects.filter(title="p399").delete()

    in_another_connection(write)
    objects = [first, *objects]
    assert len(objects) == 3 + 3 * 400
    assert {obj["fields"]["title"] for obj in objects if obj["model"] == "testapp.post"} == {
        f"p{i}" for i in range(400)
    }
    assert not connection.in_atomic_block  # the transaction ended with the stream
    assert Post.objects.filter(title="new").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's cursors")
def test_postgresql_cursors_are_not_holdable(settings):
    settings.SYNCTOOL_CHUNK_SIZE = 100
    make_rows(blogs=1)
    objects = serialize_querysets([Post.objects.all()])
    next(objects)
    with connection.cursor() as cursor:
        cursor.execute("SELECT is_holdable FROM pg_cursors")
        assert [row[0] for row in cursor.fetchall()] == [False]
        cursor.execute("SHOW transaction_isolation")
        assert cursor.fetchone() == ("repeatable read",)
    assert len(list(objects)) == 399


def test_only_postgresql_and_mysql_read_in_a_transaction():
    make_rows(blogs=1, posts_per_blog=5)
    objects = serialize_querysets(route_querysets())
    next(objects)
    assert connection.in_atomic_block is (connection.vendor != "sqlite")
    assert len(list(objects)) == 1 + 5 - 1


def test_a_transaction_of_the_caller_is_used_as_it_is():
    make_rows(blogs=1, posts_per_blog=5)
    with transaction.atomic():
        Blog.objects.create(name="uncommitted", slug="uncommitted")
        objects = list(serialize_querysets(route_querysets()))
        assert connection.in_atomic_block
    assert len(objects) == 2 + 5


@snapshots
def test_a_stream_closed_early_ends_its_transaction():
    make_rows(blogs=1, posts_per_blog=5)
    objects = serialize_querysets(route_querysets())
    next(objects)
    assert connection.in_atomic_block
    objects.close()  # the client went away
    assert not connection.in_atomic_block
    assert Blog.objects.count() == 1


@snapshots
def test_a_response_closed_early_ends_its_snapshot_in_its_own_thread():
    """The response's chunks are generators made of the stream, which do not
    close their sources: closing the response (the client went away) must
    end the snapshot there, not leave it to the garbage collector in
    whatever thread collects it."""
    from synctool.server.streaming import Counted, Finished
    from synctool.wire.encode import encode_fixture

    make_rows(blogs=1, posts_per_blog=400)
    counted = Counted(serialize_querysets(route_querysets()))
    response = Finished(encode_fixture(counted), counted, path="t", request=None, token_id="-")
    next(response)
    assert connection.in_atomic_block
    response.close()
    assert not connection.in_atomic_block


@snapshots
def test_a_snapshot_closed_from_another_thread_leaves_that_threads_connection_alone():
    """Closed in a thread other than its own (a garbage collector's), the
    stream closes its own connection, never the closing thread's."""
    make_rows(blogs=1, posts_per_blog=5)
    objects = serialize_querysets(route_querysets())
    next(objects)
    own = connection.connection
    errors = []

    def close_elsewhere():
        try:
            with transaction.atomic():
                Blog.objects.count()
                objects.close()
                assert Blog.objects.count() == 1  # this thread's transaction still works
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=close_elsewhere)
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and errors == []
    assert own.closed
    # This thread's wrapper still counts the snapshot's transaction (in a
    # server, that thread's request is over): forgotten, as a new thread's.
    connection.in_atomic_block = False
    connection.atomic_blocks.clear()
    connection.savepoint_ids.clear()
    connection.needs_rollback = False
    connection.connection = None
