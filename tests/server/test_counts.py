"""``X-Synctool-Counts`` (the totals sync_data's progress shows): exact where
counting is cheap, the database's own estimate (marked ``~``) for a whole
large table on PostgreSQL and MySQL/MariaDB, where counting costs a read."""

import pytest
from django.db import connection

from synctool.backends import backend_for
from synctool.server.views import row_counts
from tests.server.test_export import make_rows
from tests.testapp.models import Blog, Post

pytestmark = pytest.mark.django_db(transaction=True)


def analyze(model) -> None:
    """Let the database estimate the table's size now (autovacuum does, later)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {table}")
        elif connection.vendor == "mysql":
            cursor.execute(f"ANALYZE TABLE {table}")
            cursor.fetchall()


def test_querysets_and_small_tables_are_counted_exactly():
    make_rows(blogs=2, posts_per_blog=30)
    analyze(Post)
    querysets = [Blog.objects.all(), Post.objects.filter(blog__slug="b0")]
    assert row_counts(querysets) == "testapp.blog=2,testapp.post=30"


def test_a_whole_large_table_is_the_databases_estimate_and_says_so(monkeypatch):
    make_rows(blogs=2, posts_per_blog=30)
    analyze(Post)
    # "Large" from 10 rows on, rather than inserting 100,000.
    monkeypatch.setattr(type(backend_for(connection)), "ESTIMATE_ABOVE", 10)
    label, value = row_counts([Post.objects.all()]).split("=")
    assert label == "testapp.post"
    if connection.vendor == "sqlite":
        assert value == "60"  # SQLite keeps no estimate: it counts
    else:
        assert value.startswith("~")
        assert 20 <= int(value[1:]) <= 120  # InnoDB's estimate is a rough one
    # A filtered queryset is counted, whatever the table's size.
    assert row_counts([Post.objects.filter(title="p1")]) == "testapp.post=2"
