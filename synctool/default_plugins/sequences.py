"""Built-in ``reset_sequences``: Django's own ``sequence_reset_sql``.

Runs last: the backend plugins in ``synctool_contrib`` handle PostgreSQL,
SQLite and MySQL/MariaDB first (Django's SQL does nothing on the latter two).
"""

from django.core.management.color import no_style

from synctool import hookimpl


@hookimpl(trylast=True)
def reset_sequences(connection, models):
    statements = connection.ops.sequence_reset_sql(no_style(), models)
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
    return True
