"""The wire format: a Django JSON fixture, one object per line.

The server writes::

    [
    {"model": "blog.blog", "pk": 1, "fields": {...}},
    {"model": "blog.post", "pk": 1, "fields": {...}}
    ]

which is a valid fixture for ``manage.py loaddata`` and lets the client
decode each line on its own with orjson (far faster than an incremental
parser). Any other valid JSON fixture is still accepted through ijson.
A body without its closing bracket is reported as incomplete, never loaded
as if it were whole.
"""

import datetime
import decimal
import itertools
import json
from collections.abc import Iterable, Iterator

import ijson
import orjson

from synctool import compression
from synctool.exceptions import IncompleteResponse, MalformedResponse

OUTPUT_BUFFER_SIZE = 64 * 1024
# orjson 3.13 writes a time with 10000-99999 microseconds with five digits
# ("00:00:00.10000" for 0.01 s), which reads back as 0.1 s.
_ORJSON_TIMES_OK = orjson.dumps(datetime.time(0, 0, 0, 10000)) == b'"00:00:00.010000"'
# 19 digits in a row: a line that may hold an integer orjson cannot read
# exactly (beyond 64 bits); the standard json module reads those lines.
# Mapping every digit to "0" and searching for 19 zeros is ~15x faster
# than a regular expression on every line.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 19


def _may_hold_a_long_integer(line: bytes) -> bool:
    return _LONG_DIGIT_RUN in line.translate(_DIGITS_TO_ZERO)


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
    """Yield the fixture for ``objects`` in chunks of about 64 KiB."""
    buffer = bytearray(b"[")
    separator = b"\n"
    for obj in objects:
        buffer += separator
        buffer += encode_object(obj)
        separator = b",\n"
        if len(buffer) >= OUTPUT_BUFFER_SIZE:
            yield bytes(buffer)
            buffer.clear()
    buffer += b"\n]\n"
    yield bytes(buffer)


def gzip_chunks(chunks: Iterable[bytes], level: int) -> Iterator[bytes]:
    """Compress a stream of chunks into one gzip stream.

    Django's ``compress_sequence`` always uses level 6, which costs the
    server more CPU than producing the JSON; level 1 keeps most of the size
    reduction at a fraction of the cost.

    Every chunk is flushed (``Z_SYNC_FLUSH``) as it is compressed: the
    client can use each one at once, instead of waiting while the
    compressor holds hundreds of kilobytes (ISA-L does), and the stream
    stays steady. It costs under 1% in size and nothing measurable in CPU.
    """
    compressor = compression.compressor(level)
    # The gzip header goes out at once, as with Django's compress_sequence:
    # the status line is then sent, and a later failure shows as a cut body.
    yield compressor.flush(compression.Z_SYNC_FLUSH)
    for chunk in chunks:
        yield compressor.compress(chunk) + compressor.flush(compression.Z_SYNC_FLUSH)
    # The end of the JSON leaves with the gzip trailer, so a body cut near
    # its end is also an incomplete fixture.
    yield compressor.flush()


def check_fixture_object(obj, position: int) -> dict:
    """Return ``obj`` if it looks like a fixture object, else raise."""
    if (
        not isinstance(obj, dict)
        or not isinstance(obj.get("model"), str)
        or not isinstance(obj.get("fields"), dict)
    ):
        raise MalformedResponse(
            f"object #{position} is not a fixture object "
            f'({{"model": ..., "pk": ..., "fields": {{...}}}}): {str(obj)[:120]}'
        )
    return obj


class _ChunkReader:
    """A minimal file-like object over an iterator of bytes, for ijson."""

    def __init__(self, first: bytes, rest: Iterator[bytes]):
        self._pending = first
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes with read(0) to learn bytes vs str
            return b""
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return next(self._rest, b"")


def decode_fixture(chunks: Iterable[bytes]) -> Iterator[dict]:
    """Yield the objects of a fixture arriving as byte chunks.

    Raises :class:`IncompleteResponse` when the body ends early and
    :class:`MalformedResponse` when it is not a JSON list of fixture objects.
    """
    chunks = iter(chunks)
    head = b""
    # Enough bytes to tell synctool's line framing ("[\n{" or "[\n]") apart.
    while len(head.lstrip()) < 3:
        chunk = next(chunks, None)
        if chunk is None:
            break
        head += chunk
    stripped = head.lstrip()
    if not stripped:
        raise IncompleteResponse("the body is empty")
    if not stripped.startswith(b"["):
        raise MalformedResponse(
            f"the body is not a JSON list of fixture objects; it starts with {stripped[:60]!r}"
        )
    if head.startswith((b"[\n{", b"[\n]")):
        yield from _decode_lines(head, chunks)
    else:
        yield from _decode_any(head, chunks)


class _LineReader:
    """Decodes synctool's line framing, a block of whole lines at a time.

    A block (every whole line of the data received so far) is read by one
    ``orjson.loads`` call, as a JSON list: far cheaper than a call per line.
    A block that does not read that way (a long integer, a line that is not
    an object, the closing bracket in the middle) is read line by line,
    which gives the exact error and position.
    """

    def __init__(self):
        self.position = 0
        self.finished = False

    def block(self, block: bytes) -> Iterator[dict]:
        if not self.finished and block and block != b"]":
            body, closing = block, False
            if body.endswith(b"\n]"):
                body, closing = body[:-2], True
            objects = self._read_at_once(body)
            if objects is not None:
                for obj in objects:
                    self.position += 1
                    yield check_fixture_object(obj, self.position)
                self.finished = closing
                return
        for line in block.split(b"\n"):
            yield from self.line(line)

    @staticmethod
    def _read_at_once(body: bytes) -> list | None:
        if _may_hold_a_long_integer(body):
            return None  # orjson would read an integer beyond 64 bits as a float
        try:
            objects = orjson.loads(b"[" + body.removesuffix(b",") + b"]")
        except orjson.JSONDecodeError:
            return None
        # One object per line, as the line-by-line reading requires (an empty
        # line, or two objects on one, is read there and reported).
        return objects if len(objects) == body.count(b"\n") + 1 else None

    def line(self, line: bytes) -> Iterator[dict]:
        if self.finished:
            if line.strip():
                raise MalformedResponse("unexpected data after the closing bracket")
            return
        if line == b"]":
            self.finished = True
            return
        if line.endswith(b","):
            line = line[:-1]
        self.position += 1
        try:
            if _may_hold_a_long_integer(line):
                # Maybe an integer beyond 64 bits, which orjson reads as a float.
                raise ValueError
            obj = orjson.loads(line)
        except ValueError:  # orjson.JSONDecodeError included
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise MalformedResponse(
                    f"object #{self.position} is not valid JSON: {exc}"
                ) from None
        yield check_fixture_object(obj, self.position)


def _decode_lines(head: bytes, chunks: Iterator[bytes]) -> Iterator[dict]:
    reader = _LineReader()
    pending = b""
    for chunk in itertools.chain([head[2:]], chunks):
        # Whole lines go on; the unfinished last one waits for the next chunk.
        data = pending + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
            continue
        pending = data[cut + 1 :]
        yield from reader.block(data[:cut])
    # The text after the last newline: the closing bracket, or a cut line.
    if reader.finished:
        if pending.strip():
            raise MalformedResponse("unexpected data after the closing bracket")
    elif pending.strip() == b"]":
        reader.finished = True
    if not reader.finished:
        raise IncompleteResponse(
            f"the body ended after {reader.position} objects without the closing bracket"
        )


def _decode_any(head: bytes, chunks: Iterator[bytes]) -> Iterator[dict]:
    position = 0
    try:
        for obj in ijson.items(_ChunkReader(head, chunks), "item"):
            position += 1
            yield check_fixture_object(obj, position)
    except ijson.IncompleteJSONError as exc:
        if "premature EOF" in str(exc) or "Incomplete" in str(exc):
            raise IncompleteResponse(f"the body ended after {position} objects: {exc}") from None
        raise MalformedResponse(f"invalid JSON after {position} objects: {exc}") from None
    except ijson.JSONError as exc:
        raise MalformedResponse(f"invalid JSON after {position} objects: {exc}") from None
