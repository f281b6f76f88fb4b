"""gzip with ISA-L or zlib: the same format, the same errors."""

import gzip

import pytest

from synctool.exceptions import IncompleteResponse, MalformedResponse
from synctool.wire import gzip as compression
from synctool.wire import gzip_chunks

DATA = b"".join(
    b'{"model": "a.b", "pk": %d, "fields": {"x": "\xc3\xbc"}},\n' % i for i in range(5000)
)


@pytest.fixture(params=["isal", "zlib"])
def library(request, monkeypatch):
    if request.param == "zlib":
        monkeypatch.setattr(compression, "isal_zlib", None)
    elif compression.isal_zlib is None:
        pytest.skip("isal is not installed")
    return request.param


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("level", [1, 3, 6, 9])
def test_any_gzip_reader_reads_what_the_server_writes(library, level):
    body = b"".join(gzip_chunks(pieces(DATA, 1000), level))
    assert gzip.decompress(body) == DATA
    assert len(body) < len(DATA) / 3


@pytest.mark.parametrize("size", [1, 7, 65536])
def test_the_client_reads_any_gzip_in_any_chunking(library, size):
    body = gzip.compress(DATA[:3000], compresslevel=6)
    assert b"".join(compression.gunzip_chunks(pieces(body, size))) == DATA[:3000]


def test_several_members_are_read_in_turn(library):
    body = gzip.compress(b"first,") + gzip.compress(b"second")
    assert b"".join(compression.gunzip_chunks(pieces(body, 5))) == b"first,second"


@pytest.mark.parametrize("keep", [3, 12, 40, -9, -1])
def test_a_cut_stream_is_incomplete(library, keep):
    body = gzip.compress(DATA)
    read = []
    with pytest.raises(IncompleteResponse, match="ended before its end"):
        for chunk in compression.gunzip_chunks(pieces(body[:keep], 16)):
            read.append(chunk)
    assert DATA.startswith(b"".join(read))


def test_a_corrupt_stream_is_malformed(library):
    body = bytearray(gzip.compress(DATA))
    body[30:40] = b"\xff" * 10
    with pytest.raises(MalformedResponse, match="gzip"):
        b"".join(compression.gunzip_chunks([bytes(body)]))
    with pytest.raises(MalformedResponse, match="gzip"):
        b"".join(compression.gunzip_chunks([b"not gzip at all"]))


def test_an_empty_body_is_left_to_the_fixture_reader(library):
    assert list(compression.gunzip_chunks([])) == []


def test_each_chunk_leaves_the_server_as_soon_as_it_is_made(library):
    """Nothing is held back in the compressor: what was sent decodes to all
    the input so far (a client can load rows while the server is slow)."""
    inputs = pieces(DATA, 4096)
    decompressor = compression._library().decompressobj(compression.GZIP_WBITS)
    stream = gzip_chunks(iter(inputs), 1)
    decoded = decompressor.decompress(next(stream))  # the header
    for number, output in enumerate(stream, start=1):
        decoded += decompressor.decompress(output)
        if number <= len(inputs):
            assert decoded == b"".join(inputs[:number])
    assert decoded == DATA
