"""``reset_sequences`` for SQLite: set ``sqlite_sequence`` to ``max(pk)``.

SQLite raises the counter of an AUTOINCREMENT table by itself when a larger
key is inserted, but never lowers it: after a clean, new local rows would
get ids far above the source's. Setting it to the current maximum makes
the next ``create()`` get ``max(pk) + 1``, as on the server.
"""

from synctool import hookimpl
from synctool_contrib._sequences import tables_with_auto_keys


@hookimpl
def reset_sequences(connection, models):
    if connection.vendor != "sqlite":
        return None
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column in tables_with_auto_keys(models):
            cursor.execute(
                f"UPDATE sqlite_sequence SET seq = "  # noqa: S608 - quoted identifiers
                f"(SELECT COALESCE(MAX({quote(column)}), 0) FROM {quote(table)}) "
                "WHERE name = %s",
                [table],
            )
    return True
