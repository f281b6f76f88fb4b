"""``reset_sequences`` for PostgreSQL: ``setval()`` from ``max(pk)``.

For the synced models and their many-to-many tables whose key is an
integer the database generates (serial and identity columns alike, found
through ``pg_get_serial_sequence``), the next value becomes ``max(pk) + 1``.
Django's own ``sequence_reset_sql`` would do the same but fails on a table
whose largest key is 0 or negative (``setval: value 0 is out of bounds``);
here such a sequence starts again at 1.
"""

from synctool import hookimpl
from synctool_contrib._sequences import tables_with_auto_keys


@hookimpl
def reset_sequences(connection, models):
    if connection.vendor != "postgresql":
        return None
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column in tables_with_auto_keys(models):
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, %s), "  # noqa: S608 - quoted identifiers
                f"GREATEST(COALESCE(MAX({quote(column)}), 0), 0) + 1, false) FROM {quote(table)}",
                [quote(table), column],
            )
    return True
