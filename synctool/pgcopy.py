"""PostgreSQL: a COPY whose result is awaited later.

psycopg's ``Copy`` sends the rows, then waits until PostgreSQL has inserted
every one of them. PostgreSQL inserts more slowly than the client sends, so
the client would wait several milliseconds per batch, doing nothing, while
the rows it has to decode next sit in its buffers. :func:`send_copy` sends
the whole COPY, end included, and returns at once; :func:`copy_result`
waits for PostgreSQL's answer later, once the next batch is decoded.

Between the two, the connection can run nothing else: the caller must call
:func:`copy_result` before anything else uses the connection
(``synctool.client.upsert.Upserter`` does so from an execute wrapper).
Only psycopg's public API is used: ``Copy`` with a ``Writer`` of our own,
and the ``PGconn`` wrapper of libpq for the answer.
"""

import select
from collections.abc import Iterable

from psycopg import errors, pq
from psycopg.copy import LibpqWriter


def _wait(pgconn: pq.abc.PGconn, *, write: bool) -> None:
    fileno = pgconn.socket
    select.select([] if write else [fileno], [fileno] if write else [], [])


class _EndWithoutWaiting(LibpqWriter):
    """A writer that ends the COPY without waiting for PostgreSQL's answer."""

    def finish(self, exc: BaseException | None = None) -> None:
        if exc is not None:  # the COPY is abandoned: psycopg's own handling
            super().finish(exc)
            return
        pgconn = self.connection.pgconn
        while pgconn.put_copy_end() == 0:
            _wait(pgconn, write=True)
        while pgconn.flush():
            _wait(pgconn, write=True)


def send_copy(cursor, statement: str, rows: Iterable, types: list[int] | None) -> None:
    """Run the COPY ``statement`` with ``rows`` (binary when ``types`` are given).

    Returns once everything is sent, before PostgreSQL has answered:
    :func:`copy_result` must be called before the connection is used again.
    """
    with cursor.copy(statement, writer=_EndWithoutWaiting(cursor)) as copy:
        if types:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def copy_result(connection) -> None:
    """Wait for the answer to the COPY :func:`send_copy` sent; raise its error if any.

    ``connection`` is the psycopg connection. The error is the one psycopg
    would have raised (``UniqueViolation``, ``NotNullViolation``...).
    """
    pgconn = connection.pgconn
    pgconn.consume_input()
    while pgconn.is_busy():
        _wait(pgconn, write=False)
        pgconn.consume_input()
    failed = None
    while (result := pgconn.get_result()) is not None:
        if failed is None and result.status != pq.ExecStatus.COMMAND_OK:
            failed = result
    if failed is not None:
        raise errors.error_from_result(failed, encoding=connection.info.encoding)
