"""Built-in ``reset_sequences``: the backend's own reset, for every database.

PostgreSQL: ``setval()`` from ``max(pk)``; SQLite: ``sqlite_sequence``;
MySQL/MariaDB: ``ALTER TABLE ... AUTO_INCREMENT`` after the commit; others:
Django's ``sequence_reset_sql`` (see :mod:`synctool.backends`). Always
registered, and last: a plugin implementing the hook runs first.
"""

from synctool import hookimpl
from synctool.backends import backend_for


@hookimpl(trylast=True)
def reset_sequences(connection, models):
    backend_for(connection).reset_sequences(models)
    return True
