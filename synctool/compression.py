"""gzip for the wire, with ISA-L when it is installed.

The format is plain gzip either way (any HTTP client reads it). ISA-L
(``pip install django-synctool[fast]``, the ``isal`` package) compresses
about five times faster than zlib at level 1 and decompresses several times
faster; at the default level, compression is most of the server's CPU and
decompression a tenth of the client's. Without it, the standard library's
zlib does the same work.
"""

import zlib
from collections.abc import Iterable, Iterator

from synctool.exceptions import IncompleteResponse, MalformedResponse

try:
    from isal import isal_zlib
except ImportError:  # pragma: no cover - depends on the environment
    isal_zlib = None

GZIP_WBITS = 16 + zlib.MAX_WBITS
Z_SYNC_FLUSH = zlib.Z_SYNC_FLUSH  # the same value in isal_zlib
# ISA-L's levels are 0 to 3; its level 1 compresses about as well as zlib's.
ISAL_MAX_LEVEL = 3


def _library(level: int | None = None):
    if isal_zlib is not None and (level is None or level <= ISAL_MAX_LEVEL):
        return isal_zlib
    return zlib


def compressor(level: int):
    """A gzip compressor at ``level`` (1-9; ISA-L serves 1-3 when installed)."""
    library = _library(level)
    return library.compressobj(level, library.DEFLATED, GZIP_WBITS)


def gunzip_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress a gzip stream arriving in chunks (several members allowed).

    Raises :class:`IncompleteResponse` when the stream stops inside a member
    and :class:`MalformedResponse` when it is not gzip.
    """
    library = _library()
    decompressor = library.decompressobj(GZIP_WBITS)
    started = False
    try:
        for chunk in chunks:
            while chunk:
                started = True
                if data := decompressor.decompress(chunk):
                    yield data
                if not decompressor.eof:
                    break
                # A member ended; whatever follows starts the next one.
                chunk = decompressor.unused_data
                decompressor = library.decompressobj(GZIP_WBITS)
                started = bool(chunk)
        if data := decompressor.flush():
            yield data
    except library.error as exc:
        raise MalformedResponse(f"the gzip body is corrupt: {exc}") from None
    if started and not decompressor.eof:
        raise IncompleteResponse("the gzip body ended before its end")
