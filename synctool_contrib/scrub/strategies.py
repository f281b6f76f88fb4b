"""The built-in scrubbing strategies.

A strategy builds, once per field, a function ``scrub(value, obj)`` that
returns the new value (``obj`` is the whole fixture object, used by
``date_shift`` for its per-row shift). Every value is derived from the
keyed hash of the original value (:mod:`.keys`), never from a random
source, and ``None`` and ``""`` stay as they are except for ``null``,
``blank``, ``const`` and ``unusable_password``.

On a field whose values must stay distinct (``unique=True``, a unique
constraint, ``unique_together``), the display strategies (name,
first_name, last_name, address, text, phone) append a token of 64 bits of
the keyed hash, and ``ip`` answers IPv6 addresses; ``email``, ``username``
and ``hash`` carry such a token on every field, so that equal values map
to equal outputs wherever they are.
"""

import copy
import datetime
import hashlib
import inspect
import ipaddress
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from django.utils.module_loading import import_string

from synctool.exceptions import ConfigurationError
from synctool_contrib.scrub import fakedata
from synctool_contrib.scrub.fields import FieldInfo
from synctool_contrib.scrub.keys import (
    DIGITS_LENGTH,
    TOKEN_LENGTH,
    TOKEN_MASK,
    canonical,
    digits,
    token,
)

ScrubFunction = Callable[[object, dict | None], object]


class Context(Protocol):
    """What every strategy shares (built by :class:`.rules.Context`)."""

    key: bytes  # the scrub key
    locale: str  # the Faker locale
    hash: Callable[[object], int]  # keyed_hash(key, value), made fast
    new_state: Callable[[], object]  # a BLAKE2b state that has absorbed the key


ANY = frozenset({"text", "ip", "date", "datetime", "relation", "m2m", "other"})
TEXT = frozenset({"text"})
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")  # reserved, RFC 2606
DEFAULT_SHIFT_DAYS = 30
PASSWORD_LENGTH = 40  # as Django's make_password(None)


@dataclass(frozen=True)
class Strategy:
    name: str
    build: Callable[[FieldInfo, object, Context], ScrubFunction]
    kinds: frozenset = TEXT
    option: str = "none"  # "none", "optional" or "required"
    unique_safe: bool = True
    unique_min_length: int = 0  # room needed on a unique field
    needs_faker: bool = False
    doc: str = ""


def _fit(text: str, max_length: int | None) -> str:
    return text if max_length is None else text[:max_length]


def _with_token(text: str, info: FieldInfo, number: int, separator: str = " ") -> str:
    """``text``, plus a hash token when the field is unique, within max_length."""
    if not info.unique:
        return _fit(text, info.max_length)
    suffix = separator + token(number)
    if info.max_length is not None:
        text = text[: max(info.max_length - len(suffix), 0)]
    return (text + suffix).strip()


# -- constant strategies ----------------------------------------------------


def build_null(info, option, ctx):
    return lambda value, obj: None


def build_blank(info, option, ctx):
    return lambda value, obj: ""


def build_const(info, option, ctx):
    if isinstance(option, list | dict):
        return lambda value, obj: copy.deepcopy(option)
    return lambda value, obj: option


def build_unusable_password(info, option, ctx):
    # Django's unusable password is "!" followed by 40 random characters;
    # these 40 come from a keyed hash so that re-syncs stay identical.
    key, size = ctx.key, PASSWORD_LENGTH // 2

    def scrub(value, obj):
        if value is None:
            return None
        raw = value.encode() if isinstance(value, str) else str(value).encode()
        return "!" + hashlib.blake2b(raw, key=key, digest_size=size, person=b"password").hexdigest()

    return scrub


# -- hashed and fake values -------------------------------------------------


def build_hash(info, option, ctx):
    hasher = ctx.hash
    length = min(32, info.max_length or 32)

    def scrub(value, obj):
        if value is None or value == "":
            return value
        return f"{hasher(value):032x}"[:length]

    return scrub


def _user_pool(ctx, info: FieldInfo, tail_length: int, separator: str) -> tuple[str, ...]:
    """ASCII user names followed by ``separator``, cut so that a tail fits max_length."""
    users = fakedata.ascii_pool("user_name", ctx.locale)
    if info.max_length is not None:
        room = max(info.max_length - tail_length - 1, 0)
        users = tuple(user[:room].rstrip("._") for user in users)
    return tuple(user + separator if user else "" for user in users)


def _cut(info: FieldInfo, length: int) -> int | None:
    """``max_length`` when values of ``length`` characters may exceed it, else None."""
    if info.max_length is not None and info.max_length < length:
        return info.max_length
    return None


def build_email(info, option, ctx):
    """``user.TOKEN@example.com``: a Faker user name, a 64-bit token, a reserved domain."""
    new, from_bytes = ctx.new_state, int.from_bytes
    domains = tuple(f"@{domain}" for domain in EMAIL_DOMAINS)
    tail_length = TOKEN_LENGTH + len(domains[0])
    users = _user_pool(ctx, info, tail_length, ".")
    count, cut = len(users), _cut(info, tail_length)

    def scrub(value, obj):
        if value is None or value == "":
            return value
        state = new()
        state.update(value.encode() if value.__class__ is str else canonical(value))
        number = from_bytes(state.digest())
        user, domain = users[(number >> 64) % count], domains[(number >> 100) % 3]
        email = f"{user}{number & TOKEN_MASK:016x}{domain}"
        return email if cut is None else email[:cut]

    return scrub


def build_username(info, option, ctx):
    """``user_TOKEN``: a Faker user name and a 64-bit token."""
    new, from_bytes = ctx.new_state, int.from_bytes
    users = _user_pool(ctx, info, TOKEN_LENGTH, "_")
    count, cut = len(users), _cut(info, TOKEN_LENGTH)

    def scrub(value, obj):
        if value is None or value == "":
            return value
        state = new()
        state.update(value.encode() if value.__class__ is str else canonical(value))
        number = from_bytes(state.digest())
        username = f"{users[(number >> 64) % count]}{number & TOKEN_MASK:016x}"
        return username if cut is None else username[:cut]

    return scrub


def _pool_strategy(kind: str, shift: int = 0):
    """A strategy picking a value of one Faker pool (first names, addresses...)."""

    def build(info, option, ctx):
        hasher, values = ctx.hash, fakedata.pool(kind, ctx.locale)
        new, from_bytes = ctx.new_state, int.from_bytes
        count = len(values)
        if info.unique:

            def scrub(value, obj):
                if value is None or value == "":
                    return value
                number = hasher(value)
                return _with_token(values[(number >> shift) % count], info, number)

            return scrub
        if info.max_length is not None:
            values = tuple(v[: info.max_length] for v in values)

        def scrub(value, obj):
            if value is None or value == "":
                return value
            state = new()
            state.update(value.encode() if value.__class__ is str else canonical(value))
            return values[(from_bytes(state.digest()) >> shift) % count]

        return scrub

    return build


def build_name(info, option, ctx):
    """``"First Last"`` from Faker's pools."""
    new, from_bytes = ctx.new_state, int.from_bytes
    first, last = fakedata.pool("first_name", ctx.locale), fakedata.pool("last_name", ctx.locale)
    nf, nl = len(first), len(last)
    cut = _cut(info, max(map(len, first)) + 1 + max(map(len, last)))
    if info.unique:

        def scrub(value, obj):
            if value is None or value == "":
                return value
            state = new()
            state.update(value.encode() if value.__class__ is str else canonical(value))
            number = from_bytes(state.digest())
            return _with_token(f"{first[number % nf]} {last[(number >> 24) % nl]}", info, number)

        return scrub

    def scrub(value, obj):
        if value is None or value == "":
            return value
        state = new()
        state.update(value.encode() if value.__class__ is str else canonical(value))
        number = from_bytes(state.digest())
        name = f"{first[number % nf]} {last[(number >> 24) % nl]}"
        return name if cut is None else name[:cut]

    return scrub


_LAST_DIGITS = re.compile(r"\d{4,}(?!.*\d{4})")


def _phone_template(phone: str):
    """``(format, modulus)``: Faker's number with its last run of digits as a slot.

    The run (four digits or more) gets digits of the hash, the rest of the
    number (country code, area code, separators, extension) stays Faker's.
    """
    match = _LAST_DIGITS.search(phone)
    if match is None:
        return phone.replace("{", "{{").replace("}", "}}").format, 1
    head, tail = (
        part.replace("{", "{{").replace("}", "}}")
        for part in (phone[: match.start()], phone[match.end() :])
    )
    width = match.end() - match.start()
    return (head + f"{{:0{width}d}}" + tail).format, 10**width


def build_phone(info, option, ctx):
    hasher, max_length = ctx.hash, info.max_length or 1 << 30
    templates = [_phone_template(phone) for phone in fakedata.pool("phone", ctx.locale)]
    count = len(templates)
    if info.unique:

        def scrub(value, obj):
            if value is None or value == "":
                return value
            return "+" + digits(hasher(value), DIGITS_LENGTH)

        return scrub

    new, from_bytes = ctx.new_state, int.from_bytes

    def scrub(value, obj):
        if value is None or value == "":
            return value
        state = new()
        state.update(value.encode() if value.__class__ is str else canonical(value))
        number = from_bytes(state.digest())
        render, modulus = templates[number % count]
        return render((number >> 16) % modulus)[:max_length]

    return scrub


def build_text(info, option, ctx):
    """Words of the locale, of a length in the same power-of-two class."""
    hasher, words = ctx.hash, fakedata.pool("word", ctx.locale)
    average = max(sum(map(len, words)) // len(words), 1) + 1  # with its space
    room = info.max_length
    if info.unique and room is not None:
        room -= TOKEN_LENGTH + 1

    def scrub(value, obj):
        if value is None or value == "":
            return value
        length = len(value) if isinstance(value, str) else len(str(value))
        number = hasher(value)
        low = 1 << (length.bit_length() - 1)  # the class is [low, 2 * low - 1]
        target = low + number % low
        if room is not None:
            target = min(target, room)
        rng = random.Random(number)  # noqa: S311 - a deterministic filler, not a secret
        text = ""
        while len(text) < target:
            text += " ".join(rng.choices(words, k=target // average + 1)) + " "
        text = text[:target]
        if text.endswith(" "):
            text = text[:-1] + "."
        text = text[:1].upper() + text[1:]
        return _with_token(text, info, number)

    return scrub


def build_ip(info, option, ctx):
    hasher = ctx.hash
    as_ipv6 = info.unique

    def scrub(value, obj):
        if value is None or value == "":
            return value
        number = hasher(value)
        if as_ipv6 or ":" in str(value):
            # A unique local address (fd00::/8) carrying 120 bits of the hash.
            return str(ipaddress.IPv6Address((0xFD << 120) | (number >> 8)))
        # A private 10.0.0.0/8 address.
        return f"10.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"

    return scrub


# -- dates ------------------------------------------------------------------


def _shift(value, delta: datetime.timedelta):
    if isinstance(value, datetime.date):  # date and datetime objects (server side)
        return value + delta
    text = str(value)
    if len(text) == 10:
        return (datetime.date.fromisoformat(text) + delta).isoformat()
    moved = (datetime.datetime.fromisoformat(text) + delta).isoformat()
    if text.endswith("Z") and moved.endswith("+00:00"):
        moved = moved[:-6] + "Z"
    return moved


def build_date_shift(info, option, ctx):
    """Move dates by 1 to N days, earlier or later, the same for every date of a row."""
    new, from_bytes, label = ctx.new_state, int.from_bytes, info.label
    days = DEFAULT_SHIFT_DAYS if option is None else option
    # Index 2k is k+1 days later, 2k+1 is k+1 days earlier.
    deltas = [datetime.timedelta(days=sign * (k + 1)) for k in range(days) for sign in (1, -1)]
    count = len(deltas)

    def scrub(value, obj):
        if value is None or value == "":
            return value
        pk = obj.get("pk") if obj is not None else None
        # Per row when the object has a primary key; objects sent with
        # natural keys only are shifted by their own value.
        state = new()
        state.update(f"row:{label}:{pk}".encode() if pk is not None else canonical(value))
        number = from_bytes(state.digest())
        return _shift(value, deltas[number % count])

    return scrub


# -- user callables ---------------------------------------------------------


def build_callable(path: str) -> Callable[[FieldInfo, object, Context], ScrubFunction]:
    """A strategy from a dotted path to ``func(value, *, obj=None, field=None)``."""

    def build(info, option, ctx):
        function = load_callable(path)
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):
            parameters = {}
        takes_all = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        extra = {}
        if takes_all or "field" in parameters:
            extra["field"] = info.field
        if takes_all or "obj" in parameters:

            def scrub(value, obj):
                return function(value, obj=obj, **extra)

            return scrub
        return lambda value, obj: function(value, **extra)

    return build


def load_callable(path: str):
    try:
        function = import_string(path)
    except ImportError as exc:
        raise ConfigurationError(f"scrub strategy {path!r} does not import: {exc}") from None
    if not callable(function):
        raise ConfigurationError(f"scrub strategy {path!r} is not callable")
    return function


def _check_days(option) -> None:
    if option is not None and (
        not isinstance(option, int) or isinstance(option, bool) or option < 1
    ):
        raise ConfigurationError("date_shift takes a number of days, a positive integer")


STRATEGIES = {
    s.name: s
    for s in (
        Strategy("null", build_null, ANY - {"m2m"}, doc="None (the field must be nullable)"),
        Strategy("blank", build_blank, unique_safe=False, doc='the empty string ""'),
        Strategy("const", build_const, ANY, "required", unique_safe=False, doc="a constant"),
        Strategy("keep", lambda info, option, ctx: None, ANY, doc="the original value"),
        Strategy("hash", build_hash, unique_min_length=16, doc="hex of the keyed hash"),
        Strategy("email", build_email, unique_min_length=TOKEN_LENGTH + 12, needs_faker=True),
        Strategy("username", build_username, unique_min_length=TOKEN_LENGTH, needs_faker=True),
        Strategy(
            "name",
            build_name,
            needs_faker=True,
            unique_min_length=TOKEN_LENGTH + 1,
        ),
        Strategy(
            "first_name",
            _pool_strategy("first_name"),
            needs_faker=True,
            unique_min_length=TOKEN_LENGTH + 1,
        ),
        Strategy(
            "last_name",
            _pool_strategy("last_name", 24),
            needs_faker=True,
            unique_min_length=TOKEN_LENGTH + 1,
        ),
        Strategy(
            "address",
            _pool_strategy("address"),
            needs_faker=True,
            unique_min_length=TOKEN_LENGTH + 1,
        ),
        Strategy("phone", build_phone, unique_min_length=DIGITS_LENGTH + 1, needs_faker=True),
        Strategy("text", build_text, unique_min_length=TOKEN_LENGTH + 2, needs_faker=True),
        Strategy("ip", build_ip, frozenset({"text", "ip"}), unique_min_length=39),
        Strategy(
            "date_shift",
            build_date_shift,
            frozenset({"date", "datetime"}),
            "optional",
            unique_safe=False,
        ),
        Strategy(
            "unusable_password", build_unusable_password, unique_min_length=PASSWORD_LENGTH + 1
        ),
    )
}
OPTION_CHECKS = {"date_shift": _check_days}
