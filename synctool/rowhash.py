"""Digests of the rows of a table as the database stores them, for incremental syncs.

Each side hashes its own rows (the server its route's rows, the client its
local copy), one 64-bit digest per row, read with one ``SELECT`` in
primary-key order and without building model instances. The digests of the
two sides are never compared with each other: each is compared with what
the same side computed at the last sync, so the values a backend returns
(its types, its JSON key order) need only be the same from one sync to
the next. Every column counts, so a change made by a raw ``UPDATE`` (one
that leaves a modification time alone) changes the digest.
"""

from __future__ import annotations

import decimal
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from hashlib import blake2b, sha256
from itertools import islice
from operator import lt

import orjson
from django.db import connections, models
from django.db.models import F, Func, TextField, Value
from django.db.models.functions import MD5, Concat

import synctool
from synctool.backends import backend_for
from synctool.identity import key_columns, key_paths, path_field, references_by_key
from synctool.meta import auto_many_to_many

# Rows read per query: (key, digest) pairs when the database digests them,
# whole rows (fewer: their columns take memory) when Python does.
FETCH_ROWS = 20000
FETCH_WHOLE_ROWS = 1000

INTEGER_KEYS = (
    models.AutoField,
    models.BigAutoField,
    models.SmallAutoField,
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField,
)


def integer_key(model: type[models.Model]) -> bool:
    """Whether ``model``'s primary key is an integer (a multi-table child's included)."""
    field = model._meta.pk
    while field.is_relation:
        field = field.target_field
    return isinstance(field, INTEGER_KEYS)


def hashed_columns(model: type[models.Model]) -> list[str]:
    """The attribute names read for a row's digest: the key, then every local column."""
    opts = model._meta
    return [opts.pk.attname] + [
        field.attname for field in opts.local_concrete_fields if field is not opts.pk
    ]


def _plain(value):
    # A memoryview (PostgreSQL's bytea) prints its address: hash its bytes.
    return bytes(value) if isinstance(value, memoryview) else value


def _json_default(value):
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return repr(value)


def _to_int(digest: bytes) -> int:
    return int.from_bytes(digest, "little") or 1


def digest_of(row: tuple) -> int:
    """The 64-bit digest of one raw row; never 0 (0 marks "unknown" in a state).

    The row is written with orjson (ten times faster than ``repr``, which
    was most of the cost), falling back to ``repr`` for what orjson refuses
    (integers beyond 64 bits).
    """
    try:
        data = orjson.dumps(row, default=_json_default)
    except (TypeError, orjson.JSONEncodeError):
        data = repr(tuple(_plain(value) for value in row)).encode()
    return _to_int(blake2b(data, digest_size=8).digest())


def _many_to_many_columns(
    model: type[models.Model], key_identified: frozenset[str] = frozenset()
) -> list[tuple[type, str, tuple[str, ...]]]:
    """``(through model, source column, target paths)`` of each auto many-to-many:
    the target's key, or its natural key where the field refers to rows by
    natural key (a renamed group then changes the digests of its members)."""
    columns = []
    for field in auto_many_to_many(model):
        through = field.remote_field.through
        source = through._meta.get_field(field.m2m_field_name()).attname
        reverse = field.m2m_reverse_field_name()
        paths = key_paths(field.related_model) if references_by_key(field, key_identified) else None
        if paths:
            targets = tuple(f"{reverse}__{path}" for path in paths)
        else:
            targets = (through._meta.get_field(reverse).attname,)
        columns.append((through, source, targets))
    return columns


def _targets(using: str, through, source: str, targets: tuple[str, ...], first, last) -> dict:
    """``{source key: sorted target keys}`` for the sources between first and last."""
    rows = (
        through._base_manager.using(using)
        .filter(**{f"{source}__gte": first, f"{source}__lte": last})
        .order_by(source, *targets)
        .values_list(source, *targets)
    )
    sql, params = rows.query.get_compiler(using=using).as_sql()
    grouped: dict = {}
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        for source_pk, *target in cursor.fetchall():
            grouped.setdefault(source_pk, []).append(target[0] if len(target) == 1 else target)
    return grouped


ROW_TEXT = "synctool_row_md5"

# Types whose equal values are written the same way, so a database's own hash
# of them (equal values, equal hashes) sees every change that travels.
HASH_SAFE_TYPES = {
    *(cls.__name__ for cls in INTEGER_KEYS),
    "BooleanField", "CharField", "TextField", "SlugField", "EmailField", "URLField",
    "DateTimeField", "DateField", "TimeField", "UUIDField", "BinaryField", "JSONField",
    "DecimalField", "GenericIPAddressField",
}  # fmt: skip


def hash_safe(field: models.Field) -> bool:
    """Whether the database's hash of ``field``'s values tells every change (a
    float's -0.0 and 0.0, an interval's "1 day" and "24 hours", a text under a
    non-deterministic collation are equal and travel differently)."""
    while field.is_relation:
        field = field.target_field
    if getattr(field, "db_collation", None):
        return False
    return field.get_internal_type() in HASH_SAFE_TYPES


MASK_64 = 2**64 - 1


def _from_database(value) -> int:
    """A database's digest (a signed integer, or hexadecimal text) as a
    non-zero unsigned 64-bit integer."""
    if isinstance(value, int):
        return (value & MASK_64) or 1
    return int(value[:16], 16) or 1


def _already_digested(sql: str, key_column: str) -> str:
    return sql


def row_md5(columns: list[str], backend) -> MD5:
    """The database's MD5 of the row's columns, each written as an SQL literal
    (``quote()``: strings quoted, NULL as NULL), separated by commas."""
    parts: list = []
    for name in columns:
        parts += [Func(F(name), function=backend.quote_function, output_field=TextField())]
        parts.append(Value(","))
    return MD5(Concat(*parts, output_field=TextField()))


def digest_basis(model: type[models.Model], using: str) -> list[str]:
    """What one side's digests of ``model``'s rows stand for: the synctool
    version, how a row is digested (its version or its columns), the
    columns (as the model names them, and where a row's version stands for
    them as the table holds them, see
    :meth:`~synctool.backends.base.Backend.schema_mark`) and the
    many-to-many tables. The server's fingerprint and the client's local
    mark are both made of it."""
    connection = connections[using]
    backend = backend_for(connection)
    opts = model._meta
    return [
        synctool.__version__,
        opts.label_lower,
        "version" if backend.row_version(model) is not None else backend.digest_method,
        *(
            f"{field.attname}:{field.column}:{field.db_type(connection)}"
            for field in opts.local_concrete_fields
        ),
        *(field.remote_field.through._meta.db_table for field in auto_many_to_many(model)),
        backend.schema_mark(model),
    ]


def local_mark(model: type[models.Model], using: str) -> str:
    """What this database's digests of ``model``'s rows stand for
    (:func:`digest_basis`), kept in an incremental state beside them. When
    it changes (a migration here), the stored local digests no longer tell
    whether a row changed, and the model is synced in full."""
    return sha256("\x00".join(digest_basis(model, using)).encode()).hexdigest()[:32]


def row_digests(
    queryset: models.QuerySet, key_identified: frozenset[str] = frozenset()
) -> Iterator[tuple[int, int]]:
    """``(pk, digest)`` of every row of ``queryset``, in primary-key order (see
    :func:`row_digest_pages`)."""
    for page in row_digest_pages(queryset, key_identified):
        yield from page


def row_digest_pages(
    queryset: models.QuerySet, key_identified: frozenset[str] = frozenset()
) -> Iterator[list[tuple[int, int]]]:
    """``(pk, digest)`` of every row of ``queryset``, in primary-key order, a
    page (one query's rows) at a time.

    The rows are read raw (no ``from_db_value``), ``FETCH_ROWS`` at a time
    by key (``WHERE pk > last ORDER BY pk LIMIT n``, which every backend
    answers from the key's index): memory stays flat without a server-side
    cursor. A row's many-to-many targets (auto-created tables) count in
    its digest: adding a tag to a post changes the post's. A reference to a
    model of ``key_identified`` (foreign key or many-to-many) counts by that
    row's natural key (:func:`synctool.identity.key_columns`), as it travels.
    """
    model = queryset.model
    extra = key_columns(model, key_identified) or ()
    using = queryset.db
    connection = connections[using]
    backend = backend_for(connection)
    version = backend.row_version(model)
    if version is not None:
        # The row's version stands for its own columns (PostgreSQL's xmin).
        expressions = [F("pk"), version, *(F(path) for path in extra)]
        fields = [model._meta.pk, version.output_field, *(path_field(model, p) for p in extra)]
    else:
        columns = [*hashed_columns(model), *extra]
        expressions = [F("pk"), *(F(column) for column in columns[1:])]
        fields = [model._meta.pk, *(path_field(model, path) for path in columns[1:])]
    # Aliases: the columns' own names may repeat across a join.
    aliases = [f"synctool_c{index}" for index in range(len(expressions))]
    selected = {
        alias: backend.digest_column(expression, field)
        for alias, expression, field in zip(aliases, expressions, fields, strict=True)
    }
    values = queryset.order_by("pk").annotate(**selected).values_list(*aliases)
    text_columns = {
        alias for alias, field in zip(aliases, fields, strict=True) if not hash_safe(field)
    }

    def in_database(sql: str, key_column: str):
        return backend.row_digest_sql(sql, aliases, text_columns)

    if version is not None and not extra:
        # The version is the digest: equal versions compress well in a state.
        in_database = _already_digested
    elif backend.quote_function is not None and version is None:
        values = queryset.order_by("pk").annotate(**{ROW_TEXT: row_md5(columns, backend)})
        values = values.values_list("pk", ROW_TEXT)
        in_database = _already_digested
    many = _many_to_many_columns(model, key_identified)
    fetch = FETCH_ROWS if backend.digests_rows else FETCH_WHOLE_ROWS
    last = None
    while True:
        page = values if last is None else values.filter(pk__gt=last)
        sql, params = page[:fetch].query.get_compiler(using=using).as_sql()
        digest_sql = in_database(sql, model._meta.pk.column)
        with connection.cursor() as cursor:
            cursor.execute(digest_sql or sql, params)
            rows = cursor.fetchall()
        if not rows:
            return
        targets = ()
        if many:
            first, final = rows[0][0], rows[-1][0]
            targets = [_targets(using, *columns, first, final) for columns in many]
        if digest_sql is not None:
            # (pk, digest of the whole row) computed by the database.
            if not many and isinstance(rows[0][1], int):
                # _from_database without a call per row (the usual case).
                yield [(pk, (value & MASK_64) or 1) for pk, value in rows]
            elif not many:
                yield [(pk, _from_database(value)) for pk, value in rows]
            else:
                yield [
                    (pk, digest_of((value, *(tuple(t.get(pk, ())) for t in targets))))
                    for pk, value in rows
                ]
        elif many:
            yield [
                (row[0], digest_of((*row, *(tuple(t.get(row[0], ())) for t in targets))))
                for row in rows
            ]
        else:
            yield [(row[0], digest_of(row)) for row in rows]
        if len(rows) < fetch:
            return
        last = rows[-1][0]


def row_digest_arrays(
    queryset: models.QuerySet,
    key_identified: frozenset[str] = frozenset(),
    mask: int = MASK_64,
) -> Iterator[tuple[array, array]]:
    """What :func:`row_digest_pages` gives, each page as ``(keys, digests)``
    arrays, each digest ``& mask``.

    Where a row's digest is its version alone (PostgreSQL's ``xmin``, no
    many-to-many value or natural key counting in it), the database packs
    each page into two byte strings (:meth:`packed_versions_sql`): no
    Python object is made per row, which was most of the time an
    incremental sync spent reading the versions of rows that had not
    changed.
    """
    model = queryset.model
    using = queryset.db
    connection = connections[using]
    backend = backend_for(connection)
    version = backend.row_version(model) if backend.packs_versions else None
    if (
        version is None
        or key_columns(model, key_identified)
        or _many_to_many_columns(model, key_identified)
    ):
        for page in row_digest_pages(queryset, key_identified):
            yield array("q", (pk for pk, _ in page)), array("Q", (d & mask for _, d in page))
        return
    values = queryset.order_by("pk").annotate(synctool_k=F("pk"), synctool_v=version)
    values = values.values_list("synctool_k", "synctool_v")
    last = None
    while True:
        page = values if last is None else values.filter(pk__gt=last)
        sql, params = page[:FETCH_ROWS].query.get_compiler(using=using).as_sql()
        with connection.cursor() as cursor:
            cursor.execute(backend.packed_versions_sql(sql, "synctool_k", "synctool_v"), params)
            count, last, keys, versions = cursor.fetchone()
        if not count:
            return
        pks, digests = array("q"), array("Q")
        pks.frombytes(bytes(keys))
        digests.frombytes(bytes(versions))
        if sys.byteorder == "little":
            pks.byteswap()
            digests.byteswap()
        if not all(map(lt, pks, islice(pks, 1, None))):
            # The database aggregated the page out of key order: sort it here.
            order = sorted(range(len(pks)), key=pks.__getitem__)
            pks = array("q", (pks[index] for index in order))
            digests = array("Q", (digests[index] for index in order))
        if mask != MASK_64 and max(digests) > mask:
            digests = array("Q", (digest & mask for digest in digests))
        yield pks, digests
        if count < FETCH_ROWS:
            return


def _object_default(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return repr(value)


def object_digest(fields: dict, unordered: Iterable[str] = ()) -> int:
    """The 64-bit digest of a serialized object's ``fields``, as it travels.

    The same object gives the same digest from any database: keys are sorted
    (a JSON value's own included: PostgreSQL's jsonb reorders them) and the
    lists of the ``unordered`` fields (many-to-many values, which databases
    return in any order) are sorted too. Used by ``--verify`` to compare the
    server's rows as sent with the local rows.
    """
    if unordered:
        fields = dict(fields)
        for name in unordered:
            values = fields.get(name)
            if isinstance(values, list):
                fields[name] = sorted(values, key=repr)
    data = orjson.dumps(fields, default=_object_default, option=orjson.OPT_SORT_KEYS)
    return _to_int(blake2b(data, digest_size=8).digest())


class DigestRanges:
    """Row digests in key order, read range by range as arrays.

    ``DigestRanges(row_digest_arrays(queryset)).below(key)`` gives
    ``(keys, digests)`` of the rows not read yet whose key is below ``key``
    (all of them left with None): what one chunk or block of an incremental
    state covers, compared as whole arrays in the usual case where nothing
    changed there.
    """

    def __init__(self, pages: Iterable[tuple[array, array]]):
        self._pages = iter(pages)
        self._pks = array("q")
        self._digests = array("Q")
        self._at = 0

    def below(self, key: int | None) -> tuple[array, array]:
        pks, digests = array("q"), array("Q")
        while True:
            if self._at >= len(self._pks):
                page = next(self._pages, None)
                if page is None:
                    return pks, digests
                self._pks, self._digests = page
                self._at = 0
                continue
            start, end = self._at, len(self._pks)
            if key is not None and self._pks[-1] >= key:
                end = bisect_left(self._pks, key, start)
            pks.extend(self._pks[start:end])
            digests.extend(self._digests[start:end])
            self._at = end
            if end < len(self._pks):
                return pks, digests
