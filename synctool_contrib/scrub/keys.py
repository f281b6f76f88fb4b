"""The key of the deterministic scrubbing, and the keyed hash of a value.

Every scrubbed value is derived from a keyed hash of the original value
(BLAKE2b in keyed mode, a MAC like HMAC and about three times faster in
CPython), so the same input gives the same output on every sync and every
machine that shares the key, and nobody without the key can tell which
original produced an output. The key is ``SYNCTOOL_SCRUB_SECRET``, or one
derived from ``SECRET_KEY`` (one-way: the scrub key reveals nothing of it).
"""

import datetime
import hashlib

from synctool.exceptions import ConfigurationError
from synctool_contrib.scrub.conf import settings

_blake2b = hashlib.blake2b

# 16 hexadecimal characters carry 64 bits: the chance that two of ten
# million distinct values share a token is about 3e-6 (birthday bound), of
# a hundred thousand about 3e-10.
TOKEN_LENGTH = 16
# 20 decimal digits carry 66 bits, for fields that only take digits.
DIGITS_LENGTH = 20
TOKEN_MASK = (1 << 64) - 1


def derive_key(secret: str | bytes) -> bytes:
    """A 32-byte key from any secret string."""
    if isinstance(secret, str):
        secret = secret.encode()
    return hashlib.blake2b(secret, digest_size=32, person=b"synctool.scrub").digest()


def configured_key() -> bytes:
    """The key from ``SYNCTOOL_SCRUB_SECRET``, else derived from ``SECRET_KEY``."""
    secret = settings.SYNCTOOL_SCRUB_SECRET
    if secret is None:
        secret = settings.SECRET_KEY
        if not secret:
            raise ConfigurationError(
                "synctool_contrib.scrub needs SYNCTOOL_SCRUB_SECRET or SECRET_KEY to be set"
            )
    if not isinstance(secret, str | bytes) or not secret:
        raise ConfigurationError("SYNCTOOL_SCRUB_SECRET must be a non-empty string")
    return derive_key(secret)


def canonical(value) -> bytes:
    """The bytes hashed for ``value``, equal on both sides of the wire.

    The server sees dates as ``date``/``datetime`` objects and the client as
    the ISO strings they were encoded to; both hash to the same bytes.
    """
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat().encode()
    return str(value).encode()


def keyed_hash(key: bytes, value) -> int:
    """A 128-bit keyed hash of ``value`` as an integer."""
    return make_hasher(key)(value)


def keyed_state(key: bytes):
    """A function returning a fresh BLAKE2b state that has absorbed ``key``.

    The key block is absorbed once; copying that state halves the cost of a
    hash (about 0.4 instead of 0.9 microseconds). The hottest strategies
    inline ``state = new(); state.update(data); int.from_bytes(state.digest())``
    to save a function call per value as well.
    """
    return _blake2b(key=key, digest_size=16).copy


def make_hasher(key: bytes):
    """A fast ``keyed_hash(key, value)``: ``hasher(value) -> int``."""
    copy = keyed_state(key)
    from_bytes = int.from_bytes

    def hasher(value) -> int:
        state = copy()
        state.update(value.encode() if value.__class__ is str else canonical(value))
        return from_bytes(state.digest())

    return hasher


def token(number: int) -> str:
    """The low 64 bits of a hash as 16 lower-case hexadecimal characters."""
    return f"{number & TOKEN_MASK:016x}"


def digits(number: int, length: int = DIGITS_LENGTH) -> str:
    """``length`` decimal digits from a hash (a 128-bit hash has 38 of them)."""
    return f"{number:039d}"[-length:]
