"""``reset_sequences`` for PostgreSQL: ``setval()`` from ``max(pk)``.

Django's own ``sequence_reset_sql`` is right on PostgreSQL (serial and
identity columns alike, through ``pg_get_serial_sequence``); this plugin
runs it for the synced models and their many-to-many tables.
"""

from django.core.management.color import no_style

from synctool import hookimpl


@hookimpl
def reset_sequences(connection, models):
    if connection.vendor != "postgresql":
        return None
    statements = connection.ops.sequence_reset_sql(no_style(), list(models))
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
    return True
