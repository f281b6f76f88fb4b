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
from synctool_contrib.scrub.keys import DIGITS_LENGTH, TOKEN_LENGTH, TOKEN_MASK, digits, token

ScrubFunction = Callable[[object, dict | None], object]


class Context(Protocol):
    """What every strategy shares (built by :class:`.rules.Context`)."""

    key: bytes  # the scrub key
    locale: str  # the Faker locale
    hash: Callable[[object], int]  # keyed_hash(key, value), made fast


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


def _user_pool(ctx, info: FieldInfo, tail_length: int) -> tuple[str, ...]:
    """ASCII user names, cut so that ``user + "." + tail`` fits max_length."""
    users = fakedata.ascii_pool("user_name", ctx.locale)
    if info.max_length is None:
        return users
    room = max(info.max_length - tail_length - 1, 0)
    return tuple(user[:room].rstrip("._") for user in users)


def build_email(info, option, ctx):
    """``user.TOKEN@example.com``: a Faker user name, a 64-bit token, a reserved domain."""
    hasher, max_length = ctx.hash, info.max_length
    users = _user_pool(ctx, info, TOKEN_LENGTH + 1 + len(EMAIL_DOMAINS[0]))
    count = len(users)

    def scrub(value, obj):
        if value is None or value == "":
            return value
        number = hasher(value)
        tail = f"{number & TOKEN_MASK:016x}@{EMAIL_DOMAINS[(number >> 100) % 3]}"
        user = users[(number >> 64) % count]
        return f"{user}.{tail}" if user else _fit(tail, max_length)

    return scrub


def build_username(info, option, ctx):
    """``user_TOKEN``: a Faker user name and a 64-bit token."""
    hasher, max_length = ctx.hash, info.max_length
    users = _user_pool(ctx, info, TOKEN_LENGTH)
    count = len(users)

    def scrub(value, obj):
        if value is None or value == "":
            return value
        number = hasher(value)
        user = users[(number >> 64) % count]
        tail = f"{number & TOKEN_MASK:016x}"
        return f"{user}_{tail}" if user else _fit(tail, max_length)

    return scrub


def _pool_builder(render):
    """A strategy drawing a display value from Faker's pools."""

    def build(info, option, ctx):
        hasher, make = ctx.hash, render(ctx.locale)
        if info.unique:

            def scrub(value, obj):
                if value is None or value == "":
                    return value
                number = hasher(value)
                return _with_token(make(number), info, number)

        else:
            max_length = info.max_length or 1 << 30

            def scrub(value, obj):
                if value is None or value == "":
                    return value
                return make(hasher(value))[:max_length]

        return scrub

    return build


def _render_name(locale):
    first, last = fakedata.pool("first_name", locale), fakedata.pool("last_name", locale)
    nf, nl = len(first), len(last)
    return lambda n: f"{first[n % nf]} {last[(n >> 24) % nl]}"


def _render_first_name(locale):
    first = fakedata.pool("first_name", locale)
    return lambda n: first[n % len(first)]


def _render_last_name(locale):
    last = fakedata.pool("last_name", locale)
    return lambda n: last[(n >> 24) % len(last)]


def _render_address(locale):
    addresses = fakedata.pool("address", locale)
    return lambda n: addresses[n % len(addresses)]


_COUNTRY_CODE = re.compile(r"^\+\d{1,3}[\s\-.(]")


def _phone_template(phone: str) -> tuple[str, int]:
    """A %-format of a phone number with its digits as slots, and their count.

    A leading ``+NN`` country code is kept so numbers stay plausible.
    """
    match = _COUNTRY_CODE.match(phone)
    head = match.group(0) if match else ""
    body = phone[len(head) :].replace("%", "%%")
    count = sum(c.isdigit() for c in body)
    return head.replace("%", "%%") + re.sub(r"\d", "%s", body), count


def build_phone(info, option, ctx):
    hasher, max_length = ctx.hash, info.max_length or 1 << 30
    templates = [
        (template, count, 10**count)
        for template, count in map(_phone_template, fakedata.pool("phone", ctx.locale))
    ]
    if info.unique:

        def scrub(value, obj):
            if value is None or value == "":
                return value
            return "+" + digits(hasher(value), DIGITS_LENGTH)

        return scrub

    def scrub(value, obj):
        if value is None or value == "":
            return value
        number = hasher(value)
        template, count, limit = templates[number % len(templates)]
        filler = f"{(number >> 12) % limit:0{count}d}" if count else ""
        return (template % tuple(filler))[:max_length]

    return scrub


def build_text(info, option, ctx):
    """Words of the locale, of a length in the same power-of-two class."""
    hasher, words = ctx.hash, fakedata.pool("word", ctx.locale)
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
        parts, size = [], 0
        while size < target:
            word = rng.choice(words)
            parts.append(word)
            size += len(word) + 1
        text = " ".join(parts)[:target]
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
    hasher, label = ctx.hash, info.label
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
        number = hasher(f"row:{label}:{pk}" if pk is not None else value)
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
            _pool_builder(_render_name),
            needs_faker=True,
            unique_min_length=TOKEN_LENGTH + 1,
        ),
        Strategy(
            "first_name",
            _pool_builder(_render_first_name),
            needs_faker=True,
            unique_min_length=TOKEN_LENGTH + 1,
        ),
        Strategy(
            "last_name",
            _pool_builder(_render_last_name),
            needs_faker=True,
            unique_min_length=TOKEN_LENGTH + 1,
        ),
        Strategy(
            "address",
            _pool_builder(_render_address),
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
