"""What each database does differently, one module per vendor.

:func:`backend_for` is the one place that looks at ``connection.vendor``;
the rest of synctool asks the object it returns.
"""

from __future__ import annotations

from synctool.backends.base import Backend


def backend_for(connection) -> Backend:
    """The :class:`~synctool.backends.base.Backend` of a Django connection."""
    if connection.vendor == "postgresql":
        from synctool.backends.postgresql import PostgreSQLBackend as backend_class
    elif connection.vendor == "mysql":
        from synctool.backends.mysql import MySQLBackend as backend_class
    elif connection.vendor == "sqlite":
        from synctool.backends.sqlite import SQLiteBackend as backend_class
    else:
        backend_class = Backend
    return backend_class(connection)
