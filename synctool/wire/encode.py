"""Encoding the wire format: fixture objects to compact JSON lines, values exact.

Datetimes and times keep their microseconds (orjson writes them in full,
except times with 10000-99999 microseconds, fixed here wherever they
travel), decimals all their digits, integers beyond 64 bits go through the
standard json module.
"""

import datetime
import decimal
import json
from collections.abc import Iterable, Iterator

import orjson

from synctool.exceptions import ExportError

OUTPUT_BUFFER_SIZE = 64 * 1024
# The reserved model of the object that tells the client why the server
# stopped (see encode_fixture), and the longest message it carries.
ERROR_MODEL = "synctool.error"
MAX_ERROR_CHARS = 2000
# orjson 3.13 writes a time with 10000-99999 microseconds with five digits
# ("00:00:00.10000" for 0.01 s), which reads back as 0.1 s.
_ORJSON_TIMES_OK = orjson.dumps(datetime.time(0, 0, 0, 10000)) == b'"00:00:00.010000"'


def _orjson_default(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _stdlib_default(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _time_in_full(value):
    """``value`` with every ``datetime.time`` in it (lists included) as its ISO string."""
    kind = type(value)
    if kind is datetime.time:
        return value.isoformat()
    if kind is list or kind is tuple:
        return [_time_in_full(item) for item in value]
    return value


def _write_times_in_full(obj: dict) -> None:
    """Work around orjson's five-digit microseconds (see ``_ORJSON_TIMES_OK``).

    Times travel as values, primary keys, foreign keys, many-to-many lists
    and components of natural keys: every one of them is written in full.
    """
    if "pk" in obj:
        obj["pk"] = _time_in_full(obj["pk"])
    fields = obj.get("fields")
    if isinstance(fields, dict):
        for name, value in fields.items():
            kind = type(value)
            if kind is datetime.time or kind is list or kind is tuple:
                fields[name] = _time_in_full(value)


def encode_object(obj: dict) -> bytes:
    """One fixture object as compact JSON bytes, values kept exact.

    Datetimes and times keep their microseconds and decimals all their
    digits (as strings, like Django's serializer). orjson never writes a raw
    newline, so the result always fits on one line.
    """
    if not _ORJSON_TIMES_OK:
        _write_times_in_full(obj)
    try:
        return orjson.dumps(obj, default=_orjson_default)
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits or non-string keys inside a JSONField.
        return json.dumps(
            obj, default=_stdlib_default, ensure_ascii=False, separators=(",", ":")
        ).encode()


def encode_fixture(objects: Iterable[dict]) -> Iterator[bytes]:
    """Yield the fixture for ``objects`` in chunks of about 64 KiB.

    An :class:`~synctool.exceptions.ExportError` raised while the objects
    are made (a row pointing at one that does not exist) comes after the
    status line was sent: the objects so far go out, then one
    :data:`ERROR_MODEL` object with its message, then the error is raised
    again, which cuts the body before its closing bracket. The client
    raises with the server's message instead of only "the connection was
    cut"; ``loaddata`` still sees an incomplete fixture. Other exceptions
    say nothing to the client (their messages may tell too much).
    """
    buffer = bytearray(b"[")
    separator = b"\n"
    try:
        for obj in objects:
            buffer += separator
            buffer += encode_object(obj)
            separator = b",\n"
            if len(buffer) >= OUTPUT_BUFFER_SIZE:
                yield bytes(buffer)
                buffer.clear()
    except ExportError as exc:
        record = {"model": ERROR_MODEL, "fields": {"message": str(exc)[:MAX_ERROR_CHARS]}}
        yield bytes(buffer + separator + encode_object(record) + b"\n")
        raise
    buffer += b"\n]\n"
    yield bytes(buffer)
