"""``reset_sequences`` for MySQL and MariaDB: ``ALTER TABLE ... AUTO_INCREMENT``.

InnoDB raises the counter by itself when a larger key is inserted; after a
clean it must be lowered. ``ALTER TABLE`` commits implicitly on MySQL, so
the statements run right after the sync's transaction commits (they are
skipped when it rolls back). ``AUTO_INCREMENT = 1`` makes the server pick
``max(pk) + 1``.
"""

from django.db import transaction

from synctool import hookimpl
from synctool_contrib._sequences import tables_with_auto_keys


@hookimpl
def reset_sequences(connection, models):
    if connection.vendor != "mysql":
        return None
    tables = tables_with_auto_keys(models)
    quote = connection.ops.quote_name

    def reset():
        with connection.cursor() as cursor:
            for table, _column in tables:
                cursor.execute(f"ALTER TABLE {quote(table)} AUTO_INCREMENT = 1")

    transaction.on_commit(reset, using=connection.alias)
    return True
