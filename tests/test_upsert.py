"""The write paths keep insert-or-update semantics, whichever one a batch takes."""

import pytest
from django.db import IntegrityError, connection, transaction

from synctool import upsert
from synctool.upsert import Upserter
from tests.testapp.models import Tag

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def calls(monkeypatch):
    """Every batch goes to the fast paths; records (path, returned) per call."""
    monkeypatch.setattr(upsert, "FAST_PATH_THRESHOLD", 1)
    record = []
    for name in ("copy_insert", "copy_upsert", "executemany_upsert"):
        original = getattr(upsert, name)

        def counting(*args, name=name, original=original):
            done = original(*args)
            record.append((name, done))
            return done

        monkeypatch.setattr(upsert, name, counting)
    return record


def tags(*pairs):
    return [Tag(pk=pk, name=name) for pk, name in pairs]


def names():
    return dict(Tag.objects.order_by("pk").values_list("pk", "name"))


def test_a_key_seen_twice_updates_the_row(calls):
    with transaction.atomic():
        writer = Upserter("default")
        writer.write(Tag, tags((1, "a"), (2, "b")))
        writer.write(Tag, tags((2, "b2"), (3, "c")))  # pk 2 again: an update
        writer.write(Tag, tags((4, "d")))
    assert names() == {1: "a", 2: "b2", 3: "c", 4: "d"}
    if connection.vendor == "postgresql":
        # Straight COPY into the empty table, until pk 2 came back; the
        # savepoint undid that batch and the upsert wrote it.
        assert calls == [
            ("copy_insert", True),
            ("copy_insert", False),
            ("copy_upsert", True),
            ("copy_upsert", True),
        ]


def test_a_table_with_rows_is_never_copied_into_straight(calls):
    Tag.objects.create(pk=1, name="local")
    with transaction.atomic():
        writer = Upserter("default")
        writer.write(Tag, tags((1, "server"), (2, "new")))
    assert names() == {1: "server", 2: "new"}
    assert ("copy_insert", True) not in calls
    assert not any(name == "copy_insert" for name, _ in calls)


def test_a_conflict_on_another_unique_column_is_an_error(calls):
    Tag.objects.create(pk=10, name="taken")
    Tag.objects.filter(pk=10).delete()  # empty again: the straight path is tried
    with transaction.atomic():
        writer = Upserter("default")
        writer.write(Tag, tags((1, "a")))
        with pytest.raises(IntegrityError), transaction.atomic():
            writer.write(Tag, tags((2, "a")))  # same unique name, other pk
    assert names() == {1: "a"}


def test_the_outer_transaction_still_works_after_a_fallback(calls):
    with transaction.atomic():
        writer = Upserter("default")
        writer.write(Tag, tags((1, "a")))
        writer.write(Tag, tags((1, "again")))
        # A failed COPY rolled back to its savepoint only: queries still run.
        assert Tag.objects.get(pk=1).name == "again"
        transaction.set_rollback(True)
    assert names() == {}


def test_an_update_clashing_with_another_rows_unique_value_is_an_error(calls):
    Tag.objects.bulk_create(tags((1, "a"), (2, "b")))
    with pytest.raises(IntegrityError), transaction.atomic():
        Upserter("default").write(Tag, tags((1, "b")))  # MySQL must not overwrite row 2
    assert names() == {1: "a", 2: "b"}
