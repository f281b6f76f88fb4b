"""Row digests (synctool.rowhash) as an incremental sync relies on them: equal
while a row is not written, different after any write, raw ones included; on
PostgreSQL they come from the row's version, so a write of the same values
counts and a rewrite of the table by VACUUM FULL does not."""

import os

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext, isolate_apps

from synctool import rowhash
from synctool.backends import backend_for
from synctool.rowhash import row_digests
from tests.testapp.models import Tag

BACKEND = os.environ.get("SYNCTOOL_TEST_DB", "sqlite")

pytestmark = pytest.mark.django_db(transaction=True)


def digests() -> dict[int, int]:
    return dict(row_digests(Tag.objects.all()))


def raw(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_digest_changes_with_every_write_and_only_then():
    tags = [Tag.objects.create(name=f"tag {i}") for i in range(3)]
    before = digests()
    assert digests() == before
    raw("UPDATE testapp_tag SET name = %s WHERE id = %s", ["renamed", tags[1].pk])
    after = digests()
    assert after[tags[1].pk] != before[tags[1].pk]
    assert {pk: d for pk, d in after.items() if pk != tags[1].pk} == {
        pk: d for pk, d in before.items() if pk != tags[1].pk
    }


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's row versions")
def test_on_postgresql_the_version_is_read_not_the_columns():
    tags = [Tag.objects.create(name=f"tag {i}") for i in range(3)]
    assert backend_for(connection).row_version(Tag) is not None
    before = digests()
    raw("VACUUM FULL testapp_tag")  # the table rewritten: versions kept
    assert digests() == before
    # The same value written again is a new version of the row.
    raw("UPDATE testapp_tag SET name = name WHERE id = %s", [tags[0].pk])
    assert digests()[tags[0].pk] != before[tags[0].pk]


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's row versions")
@isolate_apps("tests.testapp")
def test_a_view_has_no_versions_and_is_digested_by_content():
    class TagView(models.Model):
        """Tags through a view: no row versions there."""

        name = models.CharField(max_length=50)

        class Meta:
            app_label = "testapp"
            managed = False
            db_table = "synctool_test_tag_view"

    Tag.objects.create(name="one")
    raw("CREATE VIEW synctool_test_tag_view AS SELECT id, name FROM testapp_tag")
    try:
        assert backend_for(connection).row_version(TagView) is None
        first = dict(row_digests(TagView.objects.all()))
        raw("UPDATE testapp_tag SET name = name")
        assert dict(row_digests(TagView.objects.all())) == first  # same content
        raw("UPDATE testapp_tag SET name = 'two'")
        assert dict(row_digests(TagView.objects.all())) != first
    finally:
        raw("DROP VIEW synctool_test_tag_view")


def test_content_digests_tell_apart_values_that_print_alike():
    """Each column is written exactly (quoted, NULL apart from 'NULL' and '',
    separators inside a value not mistaken for the next column, a float to
    its last digit, bytes as bytes): every change travels, so every change
    must change the digest, whichever way the backend digests content."""
    from django.db import connection as db

    from tests.testapp.models import AllTypes

    pairs = [
        ({"char": "a,b", "text": "c"}, {"char": "a", "text": "b,c"}),
        ({"nullable_char": None}, {"nullable_char": "NULL"}),
        ({"nullable_char": None}, {"nullable_char": ""}),
        ({"nullable_char": None}, {"nullable_char": "~"}),
        ({"char": "1:a", "text": ""}, {"char": "", "text": "1:a"}),
        ({"floating": 1.0}, {"floating": 1.0000000000000002}),
        ({"char": "it's"}, {"char": "it''s"}),
        ({"floating": 0.1 + 0.2}, {"floating": 0.3}),
        ({"binary": b"\x00\x01"}, {"binary": b"\x00\x02"}),
        ({"binary": b""}, {"binary": None}),
        ({"json": {"a": 1}}, {"json": {"a": "1"}}),
    ]
    for first, second in pairs:
        row = AllTypes.objects.create(**first)
        before = dict(row_digests(AllTypes.objects.filter(pk=row.pk)))
        AllTypes.objects.filter(pk=row.pk).update(**second)
        after = dict(row_digests(AllTypes.objects.filter(pk=row.pk)))
        assert before != after, (db.vendor, first, second)


@pytest.mark.parametrize("page_rows", [2, 3, 1000])
def test_digest_arrays_and_ranges_give_every_row_once_in_key_order(monkeypatch, page_rows):
    """On PostgreSQL the versions come packed, a page per row of the answer
    (no Python object per row): the same keys, negative ones included, and
    the same digests as the rows read one by one, cut anywhere."""
    monkeypatch.setattr(rowhash, "FETCH_ROWS", page_rows)
    for pk in (-(2**31), -7, 3, 4, 9, 10, 11, 2**31 - 1):
        Tag.objects.create(pk=pk, name=f"tag {pk}")
    expected = sorted(row_digests(Tag.objects.all()))
    with CaptureQueriesContext(connection) as queries:
        pages = list(rowhash.row_digest_arrays(Tag.objects.all()))
    assert [(pk, d) for pks, ds in pages for pk, d in zip(pks, ds, strict=True)] == expected
    assert len(pages) == -(-len(expected) // page_rows)
    packed = [query for query in queries if "string_agg(int8send" in query["sql"]]
    assert len(packed) == (len(queries) if BACKEND == "postgres" else 0)
    masked = rowhash.row_digest_arrays(Tag.objects.all(), mask=0xFF)
    assert [d for _, ds in masked for d in ds] == [d & 0xFF for _, d in expected]

    ranges = rowhash.DigestRanges(rowhash.row_digest_arrays(Tag.objects.all()))
    cuts = [-7, -7, 4, 10, 10, 2**31 - 1]
    parts = [ranges.below(cut) for cut in cuts] + [ranges.below(None), ranges.below(None)]
    assert [list(pks) for pks, _ in parts] == [
        [-(2**31)],
        [],
        [-7, 3],
        [4, 9],
        [],
        [10, 11],
        [2**31 - 1],
        [],
    ]
    assert [d for _, ds in parts for d in ds] == [d for _, d in expected]


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's packed row versions")
def test_a_page_the_database_aggregated_out_of_key_order_is_sorted(monkeypatch):
    from synctool.backends.postgresql import PostgreSQLBackend

    packed = PostgreSQLBackend.packed_versions_sql

    def reversed_pages(self, sql, key, version):
        straight = packed(self, sql, key, version)
        reversed_ = straight.replace("''::bytea)", f"''::bytea ORDER BY t.{key} DESC)")
        assert reversed_.count("DESC") == 2
        return reversed_

    for index in range(7):
        Tag.objects.create(name=f"tag {index}")
    expected = sorted(row_digests(Tag.objects.all()))
    monkeypatch.setattr(PostgreSQLBackend, "packed_versions_sql", reversed_pages)
    monkeypatch.setattr(rowhash, "FETCH_ROWS", 3)
    pages = list(rowhash.row_digest_arrays(Tag.objects.all()))
    assert [(pk, d) for pks, ds in pages for pk, d in zip(pks, ds, strict=True)] == expected
