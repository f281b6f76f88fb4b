"""The wire format: a Django JSON fixture, one object per line, gzipped when accepted.

The server writes::

    [
    {"model": "blog.blog", "pk": 1, "fields": {...}},
    {"model": "blog.post", "pk": 1, "fields": {...}}
    ]

which is a valid fixture for ``manage.py loaddata`` and lets the client
decode each line on its own with orjson. ``encode`` writes it, ``decode``
reads it (any other valid JSON fixture too, through ijson), ``gzip``
compresses and decompresses it in both directions.
"""

from synctool.wire.decode import check_fixture_object, decode_fixture
from synctool.wire.encode import encode_fixture, encode_object
from synctool.wire.gzip import gunzip_chunks, gzip_chunks

__all__ = [
    "check_fixture_object",
    "decode_fixture",
    "encode_fixture",
    "encode_object",
    "gunzip_chunks",
    "gzip_chunks",
]
