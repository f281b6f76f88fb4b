import datetime
import decimal
import json
import zlib

import pytest

from synctool.exceptions import (
    DanglingReference,
    ExportError,
    IncompleteResponse,
    MalformedResponse,
)
from synctool.wire import decode_fixture, encode_fixture, encode_object


def chunked(data: bytes, size: int):
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_encode_keeps_microseconds_and_decimal_digits():
    obj = {
        "model": "a.b",
        "pk": 1,
        "fields": {
            "when": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.UTC),
            "at": datetime.time(1, 2, 3, 4),
            "amount": decimal.Decimal("12345678901234567890.0000000001"),
        },
    }
    decoded = json.loads(encode_object(obj))
    assert decoded["fields"] == {
        "when": "2024-05-06T07:08:09.123456+00:00",
        "at": "01:02:03.000004",
        "amount": "12345678901234567890.0000000001",
    }


def test_encode_falls_back_for_huge_integers():
    obj = {"model": "a.b", "pk": 1, "fields": {"json": {"n": 2**80}}}
    assert json.loads(encode_object(obj))["fields"]["json"]["n"] == 2**80


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_round_trip_through_any_chunking(chunk_size):
    objects = [
        {"model": "a.b", "pk": i, "fields": {"text": f"line {i}\nnext \u00e9\u20ac", "n": i}}
        for i in range(50)
    ]
    body = b"".join(encode_fixture(objects))
    assert json.loads(body) == objects  # a valid fixture for loaddata too
    assert list(decode_fixture(chunked(body, chunk_size))) == objects


def test_empty_fixture():
    body = b"".join(encode_fixture([]))
    assert json.loads(body) == []
    assert list(decode_fixture([body])) == []


def test_fixture_from_elsewhere_is_parsed_with_ijson():
    objects = [{"model": "a.b", "pk": 1, "fields": {"x": 1}}]
    body = json.dumps(objects, indent=2).encode()
    assert list(decode_fixture(chunked(body, 5))) == objects


@pytest.mark.parametrize("cut", [1, 3, 30, -3, -2])
def test_truncated_body_is_incomplete(cut):
    objects = [{"model": "a.b", "pk": i, "fields": {"t": "\u20ac" * 5}} for i in range(3)]
    body = b"".join(encode_fixture(objects))
    with pytest.raises(IncompleteResponse):
        list(decode_fixture(chunked(body[:cut], 4)))


def test_truncated_at_object_boundary_is_incomplete():
    body = b'[\n{"model":"a.b","pk":1,"fields":{}},\n{"model":"a.b","pk":2,"fields":{}}\n'
    with pytest.raises(IncompleteResponse, match="2 objects"):
        list(decode_fixture([body]))


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "a.b"}',
        b"<html><body>Server Error</body></html>",
        b'[\n{"model":"a.b","pk":1,"fields":{}\n]\n',
        b'[\n{"pk":1}\n]\n',
        b'[\n{"model":"a.b","pk":1,"fields":{}}\n]\ntrailing\n',
        b'[{"model": "a.b", "fields": {}}, nonsense]',
    ],
)
def test_malformed_bodies(body):
    with pytest.raises(MalformedResponse):
        list(decode_fixture([body]))


def test_empty_body_is_incomplete():
    with pytest.raises(IncompleteResponse):
        list(decode_fixture([b""]))


def test_gzip_chunks_make_one_stream():
    import gzip

    from synctool.wire import gzip_chunks

    objects = [{"model": "a.b", "pk": i, "fields": {"t": "x" * i}} for i in range(300)]
    body = b"".join(encode_fixture(objects))
    compressed = b"".join(gzip_chunks(encode_fixture(objects), 1))
    assert gzip.decompress(compressed) == body
    assert len(compressed) < len(body) / 3


@pytest.mark.parametrize("chunk_size", [1, 5, 19, 64, 100_000])
def test_integers_beyond_64_bits_are_read_exactly_wherever_the_chunks_split(chunk_size):
    values = [2**64, -(2**70) - 1, 10**30 + 7, 2**63 - 1, 123]
    objects = [
        {"model": "a.b", "pk": index, "fields": {"json": {"n": value}, "s": "x" * index}}
        for index, value in enumerate(values)
    ]
    body = b"".join(encode_fixture(objects))
    decoded = list(decode_fixture(chunked(body, chunk_size)))
    assert [obj["fields"]["json"]["n"] for obj in decoded] == values
    assert all(type(obj["fields"]["json"]["n"]) is int for obj in decoded)


def fixture_lines(*lines: bytes) -> bytes:
    return b"[\n" + b",\n".join(lines) + b"\n]\n"


GOOD = b'{"model":"a.b","pk":%d,"fields":{}}'


@pytest.mark.parametrize("chunk_size", [3, 50, 100_000])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b"[1, 2]", r"object #3 is not a fixture object"),
        (b'{"model":"a.b","pk":3,"fields":{}', r"object #3 is not valid JSON"),
        (b"", r"object #3 is not valid JSON"),
        (b"]\n", r"unexpected data after the closing bracket"),
        (GOOD % 3 + b"," + GOOD % 4, r"object #3 is not valid JSON"),
    ],
)
def test_a_bad_line_among_good_ones_is_named_by_its_position(chunk_size, bad, message):
    body = fixture_lines(GOOD % 1, GOOD % 2, bad, GOOD % 4).replace(b"]\n,", b"]\n")
    with pytest.raises(MalformedResponse, match=message):
        list(decode_fixture(chunked(body, chunk_size)))


@pytest.mark.parametrize("chunk_size", [3, 100_000])
def test_data_after_the_closing_bracket_is_refused_even_without_a_newline(chunk_size):
    body = fixture_lines(GOOD % 1) + b"trailing"
    with pytest.raises(MalformedResponse, match="after the closing bracket"):
        list(decode_fixture(chunked(body, chunk_size)))


@pytest.mark.parametrize("chunk_size", [3, 100_000])
def test_lines_without_commas_are_still_read(chunk_size):
    body = b"[\n" + b"\n".join([GOOD % 1, GOOD % 2, GOOD % 3]) + b"\n]"
    assert [obj["pk"] for obj in decode_fixture(chunked(body, chunk_size))] == [1, 2, 3]


def _failing_export(error: Exception, rows: int = 3):
    for pk in range(1, rows + 1):
        yield {"model": "a.b", "pk": pk, "fields": {"t": "x" * 100}}
    raise error


def _sent_before(chunks) -> list[bytes]:
    """What a server sends of ``chunks`` before the error cuts them."""
    sent = []
    try:
        for chunk in chunks:
            sent.append(chunk)
    except Exception:  # noqa: BLE001 - the server logs it and cuts the body
        pass
    return sent


@pytest.mark.parametrize("compressed", [False, True])
def test_an_export_error_reaches_the_client_with_its_message(compressed):
    from synctool.wire import gunzip_chunks, gzip_chunks

    message = "shop.Comment pk=5: object_id points at auth.User pk=9, which does not exist"
    chunks = encode_fixture(_failing_export(DanglingReference(message)))
    if compressed:
        chunks = gzip_chunks(chunks, 1)
    sent = _sent_before(chunks)
    received = gunzip_chunks(sent) if compressed else iter(sent)
    decoded = []
    with pytest.raises(ExportError, match="stopped after 3 objects: shop.Comment pk=5") as caught:
        for obj in decode_fixture(received):
            decoded.append(obj["pk"])
    assert not isinstance(caught.value, IncompleteResponse)
    assert decoded == [1, 2, 3]
    # Still no complete fixture for loaddata: the closing bracket never comes.
    body = b"".join(sent)
    if compressed:
        body = zlib.decompressobj(31).decompress(body)
    assert body.endswith(b'"}}\n') and b"\n]" not in body


def test_other_server_errors_tell_the_client_nothing():
    chunks = encode_fixture(_failing_export(RuntimeError("password=hunter2")))
    body = b"".join(_sent_before(chunks))
    assert b"hunter2" not in body
    with pytest.raises(IncompleteResponse):
        list(decode_fixture([body]))


def test_a_servers_error_message_is_made_printable():
    body = b'[\n{"model":"synctool.error","fields":{"message":"bad \\u001b]0;title\\u0007 row"}}\n'
    with pytest.raises(ExportError) as caught:
        list(decode_fixture([body]))
    assert "\x1b" not in str(caught.value) and "\x07" not in str(caught.value)
    assert "bad ]0;title row" in str(caught.value)
