"""The backends' writers keep insert-or-update semantics, whichever path a batch takes."""

import datetime
import uuid
from contextlib import nullcontext

import pytest
from django.db import IntegrityError, connection, connections, transaction

from synctool.backends import backend_for, values
from synctool.backends import writer as writes
from synctool.backends.sqlite import SQLiteWriter

try:
    from synctool.backends import pgcopy
except ImportError:  # psycopg is not installed: SQLite and MySQL only
    pgcopy = None
from synctool.exceptions import LoadError
from tests.testapp.models import AllTypes, Blog, Post, Tag, UUIDItem

INDIA = datetime.timezone(datetime.timedelta(hours=5, minutes=30))

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def calls(monkeypatch):
    """Every batch goes to the fast paths; records (path, returned) per call."""
    monkeypatch.setattr(writes, "FAST_PATH_THRESHOLD", 1)
    record = []
    execute_many = SQLiteWriter.write_fast

    def counting_many(self, *args):
        done = execute_many(self, *args)
        record.append(("executemany_upsert", done))
        return done

    monkeypatch.setattr(SQLiteWriter, "write_fast", counting_many)
    if pgcopy is not None:
        copy_upsert = pgcopy.copy_upsert

        def counting(*args):
            done = copy_upsert(*args)
            record.append(("copy_upsert", done))
            return done

        monkeypatch.setattr(pgcopy, "copy_upsert", counting)
        # A straight COPY is known to have worked once its answer is read.
        wait = pgcopy.StraightCopy.wait

        def waiting(self):
            done = wait(self)
            record.append(("straight_copy", done))
            return done

        monkeypatch.setattr(pgcopy.StraightCopy, "wait", waiting)
    return record


def writer_of(using):
    """The writer of the backend of ``using`` (what a sync writes its batches with)."""
    return backend_for(connections[using]).writer()


def tags(*pairs):
    return [Tag(pk=pk, name=name) for pk, name in pairs]


def names():
    return dict(Tag.objects.order_by("pk").values_list("pk", "name"))


def test_a_key_seen_twice_updates_the_row(calls):
    with transaction.atomic(), writer_of("default") as writer:
        writer.write(Tag, tags((1, "a"), (2, "b")))
        writer.write(Tag, tags((2, "b2"), (3, "c")))  # pk 2 again: an update
        writer.write(Tag, tags((4, "d")))
    assert names() == {1: "a", 2: "b2", 3: "c", 4: "d"}
    if connection.vendor == "postgresql":
        # Straight COPY into the empty table, until pk 2 came back; the
        # savepoint undid that batch and the upsert wrote it.
        assert calls == [
            ("straight_copy", True),
            ("straight_copy", False),
            ("copy_upsert", True),
            ("copy_upsert", True),
        ]


def test_a_table_with_rows_is_never_copied_into_straight(calls):
    Tag.objects.create(pk=1, name="local")
    with transaction.atomic(), writer_of("default") as writer:
        writer.write(Tag, tags((1, "server"), (2, "new")))
    assert names() == {1: "server", 2: "new"}
    assert ("straight_copy", True) not in calls
    assert not any(name == "straight_copy" for name, _ in calls)


def test_a_conflict_on_another_unique_column_is_an_error(calls):
    Tag.objects.create(pk=10, name="taken")
    Tag.objects.filter(pk=10).delete()  # empty again: the straight path is tried
    with transaction.atomic(), writer_of("default") as writer:
        writer.write(Tag, tags((1, "a")))
        # Raised by the write itself, or (a COPY in flight) by the wait for its
        # answer, which names the model it belongs to.
        with pytest.raises((IntegrityError, LoadError)) as raised, transaction.atomic():
            writer.write(Tag, tags((2, "a")))  # same unique name, other pk
            writer.settle()
        error = raised.value
        assert isinstance(error, IntegrityError) or isinstance(error.__cause__, IntegrityError)
    assert names() == {1: "a"}


def test_the_outer_transaction_still_works_after_a_fallback(calls):
    with transaction.atomic(), writer_of("default") as writer:
        writer.write(Tag, tags((1, "a")))
        writer.write(Tag, tags((1, "again")))
        # A failed COPY rolled back to its savepoint only: queries still run.
        assert Tag.objects.get(pk=1).name == "again"
        transaction.set_rollback(True)
    assert names() == {}


def test_an_update_clashing_with_another_rows_unique_value_is_an_error(calls):
    Tag.objects.bulk_create(tags((1, "a"), (2, "b")))
    with pytest.raises(IntegrityError), transaction.atomic(), writer_of("default") as writer:
        writer.write(Tag, tags((1, "b")))  # MySQL must not overwrite row 2
    assert names() == {1: "a", 2: "b"}


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="binary COPY is PostgreSQL's"
)


@pytest.fixture
def copy_formats(monkeypatch):
    """The table of each COPY and whether it was binary."""
    formats = []
    original = pgcopy._binary_copy_types

    def recording(cursor, table, columns, fields):
        oids = original(cursor, table, columns, fields)
        formats.append((table.strip('"'), oids is not None))
        return oids

    monkeypatch.setattr(pgcopy, "_binary_copy_types", recording)
    return formats


@postgres_only
def test_binary_copy_round_trips_exactly(calls, copy_formats):
    when = datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=INDIA)
    blog = Blog.objects.create(name="b", slug="b")
    posts = [
        Post(
            pk=1, blog_id=blog.pk, title="ünï 😀 \t\\ \"'", body="", created=when, views=2**31 - 1
        ),
        Post(
            pk=2,
            blog_id=blog.pk,
            title="x",
            body="line\nline",
            created=datetime.datetime(1, 1, 1, tzinfo=datetime.UTC),
            views=-(2**31),
        ),
    ]
    for post in posts:
        post.updated = when
    items = [UUIDItem(id=uuid.UUID(int=n), label=f"n{n}") for n in (0, 2**128 - 1)]
    with transaction.atomic(), writer_of("default") as writer:
        writer.write(Post, posts)
        writer.write(UUIDItem, items)
    assert copy_formats == [("testapp_post", True), ("testapp_uuiditem", True)]
    fields = ("pk", "blog_id", "title", "body", "created", "updated", "views")
    stored = list(Post.objects.order_by("pk").values_list(*fields))
    assert stored == [tuple(getattr(post, name) for name in fields) for post in posts]
    assert stored[0][4].microsecond == 999999
    assert sorted(UUIDItem.objects.values_list("id", "label")) == [(i.id, i.label) for i in items]


@postgres_only
def test_text_copy_for_other_field_types_and_naive_datetimes(calls, copy_formats, settings):
    with transaction.atomic():
        row = AllTypes(pk=1, json={"a": 1}, created=datetime.datetime.now(datetime.UTC))
        with writer_of("default") as writer:
            writer.write(AllTypes, [row])
    settings.USE_TZ = False
    blog = Blog.objects.create(name="b", slug="b")
    naive = datetime.datetime(2024, 1, 2, 3, 4, 5, 6)
    with transaction.atomic(), writer_of("default") as writer:
        writer.write(Post, [Post(pk=1, blog_id=blog.pk, title="t", created=naive, updated=naive)])
    assert copy_formats == [("testapp_alltypes", False), ("testapp_post", False)]
    assert Post.objects.get().created == naive


# --- a straight COPY left in flight (PostgreSQL) --------------------------------


def test_a_query_during_a_copy_in_flight_waits_for_it(calls):
    with transaction.atomic(), writer_of("default") as writer:
        writer.write(Tag, tags((1, "a"), (2, "b")))
        if connection.vendor == "postgresql":
            assert writer.in_flight is not None
        # Any ORM query first reads the COPY's answer: it sees the rows.
        assert Tag.objects.count() == 2
        assert writer.in_flight is None
    assert names() == {1: "a", 2: "b"}


def test_an_error_while_a_copy_is_in_flight_rolls_everything_back(calls):
    Tag.objects.create(pk=9, name="kept")
    raw = connection.connection
    with pytest.raises(RuntimeError), transaction.atomic(), writer_of("default") as writer:
        if connection.vendor == "postgresql":
            writer.straight[Tag] = True  # as if the table had been empty
        writer.write(Tag, tags((1, "a"), (2, "b")))
        assert (writer.in_flight is not None) == (connection.vendor == "postgresql")
        raise RuntimeError("the next object could not be decoded")
    # The connection was freed for the rollback: Django did not have to drop it.
    assert connection.connection is raw
    assert names() == {9: "kept"}


@postgres_only
def test_another_error_in_a_copy_in_flight_is_raised_when_it_is_read(calls):
    blog = Blog.objects.create(name="b", slug="b")
    Blog.objects.all().delete()
    posts = [Post(pk=1, blog_id=blog.pk, title="t", created=datetime.datetime.now(datetime.UTC))]
    posts[0].body = None  # NOT NULL
    with (
        pytest.raises(LoadError, match=r"testapp.Post: .*null value") as raised,
        transaction.atomic(),
        writer_of("default") as writer,
    ):
        writer.write(Post, posts)
        assert writer.in_flight is not None
    assert isinstance(raised.value.__cause__, IntegrityError)
    assert not Post.objects.exists()


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=INDIA),
        datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
        datetime.datetime(2024, 1, 1, 12, 30),  # naive: Django warns and makes it aware
        None,
    ],
    ids=["aware", "utc", "naive", "none"],
)
def test_prepared_datetimes_are_what_get_db_prep_save_gives(value):
    field = Post._meta.get_field("created")
    prepare = values.field_preparer(field, connection)
    with pytest.warns(RuntimeWarning) if value and value.tzinfo is None else nullcontext():
        expected = field.get_db_prep_save(value, connection)
    with pytest.warns(RuntimeWarning) if value and value.tzinfo is None else nullcontext():
        assert prepare(value) == expected


def test_batches_stay_under_the_statement_size_the_database_takes():
    """MariaDB refuses a statement over max_allowed_packet ("server has gone away")."""
    writer = backend_for(connection).writer()
    writer.statement_bytes = 100_000
    rows = [AllTypes(pk=i, text="x" * 10_000) for i in range(1, 31)]
    fields = [AllTypes._meta.get_field(name) for name in ("id", "text")]
    batches = list(writer.batches(rows, fields, batch_size=1000))
    assert [obj for batch in batches for obj in batch] == rows
    assert all(len(batch) <= 5 for batch in batches)  # half the budget: 50 KB each
    writer.statement_bytes = None
    assert [len(batch) for batch in writer.batches(rows, fields, batch_size=7)] == [7, 7, 7, 7, 2]
    # One row larger than the budget still goes, alone.
    writer.statement_bytes = 1000
    assert [len(b) for b in writer.batches(rows[:3], fields, batch_size=1000)] == [1, 1, 1]


def test_more_rows_than_max_allowed_packet_takes_load_on_mysql():
    if connection.vendor != "mysql":
        pytest.skip("max_allowed_packet is MySQL's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@max_allowed_packet")
        packet = int(cursor.fetchone()[0])
    count = packet // 60_000 + 20  # more than one packet of 64 KB texts
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    rows = [AllTypes(pk=i, text="y" * 64_000, created=now) for i in range(1, count + 1)]
    with transaction.atomic(), backend_for(connection).writer() as writer:
        writer.write(AllTypes, rows)
    assert AllTypes.objects.count() == count
