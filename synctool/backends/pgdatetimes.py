"""PostgreSQL: read ``timestamptz`` columns with psycopg's C parser while exporting.

Django registers its own loader for ``timestamptz`` on every psycopg 3
connection: a subclass of psycopg's pure-Python loader, so that it can set
the datetime's ``tzinfo`` to Django's time zone object. psycopg cannot use
its C implementation for such a subclass, and parsing datetimes in Python
then takes half of the time the server spends reading a table.

:func:`c_datetimes` swaps in, for one read, a loader that parses with
psycopg's C loader and sets ``tzinfo`` exactly as Django's does: the
values are the same objects Django would give. Without psycopg's C
extension (``psycopg[binary]`` or ``psycopg[c]``), or on other backends,
it changes nothing.
"""

import contextlib
from collections.abc import Iterator

TIMESTAMPTZ = "timestamptz"


def _c_loader_class():
    """psycopg's C ``timestamptz`` text loader, or None without the C extension."""
    try:
        import psycopg
        from psycopg.pq import Format
        from psycopg.types.datetime import TimestamptzLoader
    except ImportError:
        return None
    loader = psycopg.adapters.get_loader(psycopg.adapters.types[TIMESTAMPTZ].oid, Format.TEXT)
    return None if loader is None or loader is TimestamptzLoader else loader


def _loader_like(django_loader: type, c_loader: type) -> type:
    """A loader giving what ``django_loader`` gives, parsed by ``c_loader``."""
    from psycopg.adapt import Loader

    timezone = django_loader.timezone

    class CParsedTzLoader(Loader):
        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._parse = c_loader(oid, context).load

        def load(self, data):
            # Django's loader: super().load(data).replace(tzinfo=self.timezone).
            # The C loader already gives that tzinfo object in the usual case
            # (the connection's time zone is Django's), and replace() would
            # cost five times the parsing.
            value = self._parse(data)
            return value if value.tzinfo is timezone else value.replace(tzinfo=timezone)

    # Django's create_cursor() compares this with the connection's time zone
    # to decide whether a cursor needs a loader of its own.
    CParsedTzLoader.timezone = timezone
    return CParsedTzLoader


@contextlib.contextmanager
def c_datetimes(connection) -> Iterator[None]:
    """Within the block, ``connection`` parses ``timestamptz`` in C (see the module)."""
    if connection.vendor != "postgresql":
        yield
        return
    c_loader = _c_loader_class()
    connection.ensure_connection()
    adapters = getattr(connection.connection, "adapters", None)  # None on psycopg2
    if c_loader is None or adapters is None:
        yield
        return
    from psycopg.pq import Format

    oid = adapters.types[TIMESTAMPTZ].oid
    django_loader = adapters.get_loader(oid, Format.TEXT)
    if django_loader is None or not hasattr(django_loader, "timezone"):
        yield
        return
    adapters.register_loader(oid, _loader_like(django_loader, c_loader))
    try:
        yield
    finally:
        adapters.register_loader(oid, django_loader)
