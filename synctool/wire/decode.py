"""Decoding the wire format, as it arrives in chunks.

synctool's line framing is read a block of whole lines at a time with
orjson (far faster than an incremental parser); any other valid JSON
fixture is still accepted through ijson.
A body without its closing bracket is reported as incomplete, never loaded
as if it were whole.
"""

import itertools
import json
from collections.abc import Iterable, Iterator

import ijson
import orjson
from ijson.common import ObjectBuilder

from synctool.exceptions import ExportError, IncompleteResponse, LimitExceeded, MalformedResponse
from synctool.text import printable
from synctool.wire.encode import ERROR_MODEL, MAX_ERROR_CHARS

# 19 digits in a row: a line that may hold an integer orjson cannot read
# exactly (beyond 64 bits); the standard json module reads those lines.
# Mapping every digit to "0" and searching for 19 zeros is ~15x faster
# than a regular expression on every line.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 19


def _may_hold_a_long_integer(line: bytes) -> bool:
    return _LONG_DIGIT_RUN in line.translate(_DIGITS_TO_ZERO)


def check_fixture_object(obj, position: int) -> dict:
    """Return ``obj`` if it looks like a fixture object, else raise (an
    :class:`~synctool.exceptions.ExportError` with the server's message where
    it is the server's :data:`~synctool.wire.encode.ERROR_MODEL` object)."""
    if (
        not isinstance(obj, dict)
        or not isinstance(obj.get("model"), str)
        or not isinstance(obj.get("fields"), dict)
    ):
        raise MalformedResponse(
            f"object #{position} is not a fixture object "
            f'({{"model": ..., "pk": ..., "fields": {{...}}}}): {str(obj)[:120]}'
        )
    if obj["model"] == ERROR_MODEL:
        message = printable(str(obj["fields"].get("message", "")))[:MAX_ERROR_CHARS]
        sent = position - 1
        raise ExportError(
            f"the server stopped after {sent} object{'' if sent == 1 else 's'}: {message}"
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


def decode_fixture(
    chunks: Iterable[bytes], *, max_line: int | None = None, max_depth: int | None = None
) -> Iterator[dict]:
    """Yield the objects of a fixture arriving as byte chunks.

    Raises :class:`IncompleteResponse` when the body ends early,
    :class:`MalformedResponse` when it is not a JSON list of fixture objects,
    and :class:`LimitExceeded` for a line longer than ``max_line`` bytes or
    values nested deeper than ``max_depth`` (the limits of a client that
    does not trust its server with its memory).
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
        yield from _decode_lines(head, chunks, max_line)
    else:
        yield from _decode_any(head, chunks, max_depth)


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
            except RecursionError:
                raise LimitExceeded(
                    f"object #{self.position} is nested deeper than this client reads "
                    "(about 1,000 levels, the limit of Python's and orjson's parsers)"
                ) from None
        yield check_fixture_object(obj, self.position)


def _decode_lines(head: bytes, chunks: Iterator[bytes], max_line: int | None) -> Iterator[dict]:
    reader = _LineReader()
    # The unfinished last line, as the chunks it arrived in: joined once, when
    # its end arrives (joining at every chunk would be quadratic in its length).
    pending: list[bytes] = []
    pending_size = 0
    for chunk in itertools.chain([head[2:]], chunks):
        cut = chunk.rfind(b"\n")
        if cut < 0:
            pending.append(chunk)
            pending_size += len(chunk)
            if max_line is not None and pending_size > max_line:
                raise LimitExceeded(
                    f"object #{reader.position + 1} is on a line longer than {max_line} bytes; "
                    "SYNCTOOL_MAX_LINE_BYTES raises the limit"
                )
            continue
        # Whole lines go on; the unfinished last one waits for the next chunk.
        pending.append(chunk[:cut])
        data = b"".join(pending)
        pending, pending_size = [chunk[cut + 1 :]], len(chunk) - cut - 1
        yield from reader.block(data)
    rest = b"".join(pending)
    # The text after the last newline: the closing bracket, or a cut line.
    if reader.finished:
        if rest.strip():
            raise MalformedResponse("unexpected data after the closing bracket")
    elif rest.strip() == b"]":
        reader.finished = True
    if not reader.finished:
        raise IncompleteResponse(
            f"the body ended after {reader.position} objects without the closing bracket"
        )


_STARTS = ("start_map", "start_array")
_ENDS = ("end_map", "end_array")


def _items(reader, max_depth: int | None) -> Iterator:
    """The items of the top-level JSON array, refusing values nested deeper than ``max_depth``.

    ``ijson.items`` would build a value of any depth, and ``ijson.parse``
    gives every event its path (``item.item.item...``): gigabytes for a few
    kilobytes of brackets. Here the events have no path and the depth is
    counted.
    """
    depth = 0
    builder = None
    for event, value in ijson.basic_parse(reader):
        if event in _STARTS:
            depth += 1
            if max_depth is not None and depth > max_depth + 1:
                raise LimitExceeded(
                    f"a value is nested deeper than {max_depth} levels; "
                    "SYNCTOOL_MAX_DEPTH raises the limit"
                )
            if depth == 1:  # the top-level array itself
                continue
        elif event in _ENDS:
            depth -= 1
            if depth == 0:  # the end of the top-level array
                continue
        elif depth == 0:
            raise MalformedResponse("the body is not a JSON list of fixture objects")
        if builder is None:
            builder = ObjectBuilder()
        builder.event(event, value)
        if depth == 1:  # back at the top-level array: one item is complete
            yield builder.value
            builder = None


def _decode_any(head: bytes, chunks: Iterator[bytes], max_depth: int | None) -> Iterator[dict]:
    position = 0
    try:
        for obj in _items(_ChunkReader(head, chunks), max_depth):
            position += 1
            yield check_fixture_object(obj, position)
    except ijson.IncompleteJSONError as exc:
        if "premature EOF" in str(exc) or "Incomplete" in str(exc):
            raise IncompleteResponse(f"the body ended after {position} objects: {exc}") from None
        raise MalformedResponse(f"invalid JSON after {position} objects: {exc}") from None
    except ijson.JSONError as exc:
        raise MalformedResponse(f"invalid JSON after {position} objects: {exc}") from None
