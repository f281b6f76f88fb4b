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

from synctool.exceptions import IncompleteResponse, MalformedResponse

# 19 digits in a row: a line that may hold an integer orjson cannot read
# exactly (beyond 64 bits); the standard json module reads those lines.
# Mapping every digit to "0" and searching for 19 zeros is ~15x faster
# than a regular expression on every line.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 19


def _may_hold_a_long_integer(line: bytes) -> bool:
    return _LONG_DIGIT_RUN in line.translate(_DIGITS_TO_ZERO)


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
