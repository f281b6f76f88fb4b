"""Read a queryset in chunks without holding the whole result in memory.

``QuerySet.iterator()`` streams from a server-side cursor on PostgreSQL and
SQLite, but mysqlclient reads a whole result set into the client before the
first row is returned, so on MySQL/MariaDB a large route would use memory in
proportion to its size. There, querysets ordered by primary key and not
sliced are read page by page instead: ``pk > last ORDER BY pk LIMIT n``.
"""

from collections.abc import Callable, Iterator

from django.db import connections, models

from synctool.pgdatetimes import c_datetimes


def pages_by_key(queryset: models.QuerySet) -> bool:
    """Whether ``queryset`` should be read page by page (see the module docstring)."""
    pk_name = queryset.model._meta.pk.name
    return (
        connections[queryset.db].vendor == "mysql"
        and not queryset.query.is_sliced
        and tuple(queryset.query.order_by) in ((pk_name,), ("pk",))
    )


def iterate(
    queryset: models.QuerySet, chunk_size: int, key_of: Callable[[object], object]
) -> Iterator:
    """The rows of ``queryset``; ``key_of(row)`` gives a row's primary key.

    On PostgreSQL, datetimes are parsed by psycopg's C code meanwhile
    (:mod:`synctool.pgdatetimes`).
    """
    if not pages_by_key(queryset):
        with c_datetimes(connections[queryset.db]):
            yield from queryset.iterator(chunk_size=chunk_size)
        return
    pk_name = queryset.model._meta.pk.name
    page = list(queryset[:chunk_size])
    while page:
        yield from page
        if len(page) < chunk_size:
            return
        page = list(queryset.filter(**{f"{pk_name}__gt": key_of(page[-1])})[:chunk_size])
