"""Realistic, locale-aware values from Faker, picked by a keyed hash.

Asking Faker for one value costs 50 to 150 microseconds (and seeding it
per value as much again), far too slow for a call per field per row. So
each kind of value is drawn from Faker once per process and locale, into
a pool of a few thousand values generated with a fixed seed (the pools are
the same on every machine with the same Faker version), and a scrubbed
value picks from the pools with its keyed hash: a few array look-ups.
Pools keep Faker's weighting (common names come up more often).
"""

import threading
import unicodedata

from django.utils.translation import to_locale

from synctool.exceptions import ConfigurationError
from synctool_contrib.scrub.conf import settings

POOL_SIZE = 2048
POOL_SEED = 20240601
FALLBACK_LOCALE = "en_US"

# kind -> how to draw one value from a Faker instance
DRAWS = {
    "first_name": lambda fake: fake.first_name(),
    "last_name": lambda fake: fake.last_name(),
    "user_name": lambda fake: fake.user_name(),
    "address": lambda fake: fake.address().replace("\n", ", "),
    "phone": lambda fake: fake.phone_number(),
    "word": None,  # the locale's whole word list, see _draw
}

_lock = threading.Lock()
_pools: dict[tuple[str, str], tuple[str, ...]] = {}


def faker_module():
    try:
        import faker
    except ImportError:
        raise ConfigurationError(
            "synctool_contrib.scrub needs Faker for realistic values: "
            "pip install 'django-synctool[scrub]'"
        ) from None
    return faker


def available_locales() -> list[str]:
    return list(faker_module().config.AVAILABLE_LOCALES)


def configured_locale() -> str:
    """``SYNCTOOL_SCRUB_LOCALE``, else the Faker locale of ``LANGUAGE_CODE``."""
    locale = settings.SYNCTOOL_SCRUB_LOCALE
    if locale:
        return locale
    guess = to_locale(settings.LANGUAGE_CODE or "")
    if "_" not in guess:
        guess = f"{guess}_{guess.upper()}"
    return guess if guess in available_locales() else FALLBACK_LOCALE


def _draw(kind: str, locale: str) -> tuple[str, ...]:
    fake = faker_module().Faker(locale)
    fake.seed_instance(POOL_SEED)
    if kind == "word":
        words = tuple(dict.fromkeys(w for w in fake.get_words_list() if w.strip()))
        return words or ("lorem",)
    draw = DRAWS[kind]
    return tuple(draw(fake) for _ in range(POOL_SIZE))


def pool(kind: str, locale: str) -> tuple[str, ...]:
    """The pool of ``kind`` values for ``locale``, drawn on first use."""
    key = (kind, locale)
    values = _pools.get(key)
    if values is None:
        with _lock:
            values = _pools.get(key)
            if values is None:
                values = _pools[key] = _draw(kind, locale)
    return values


def ascii_slug(text: str) -> str:
    """``text`` reduced to lower-case ASCII letters, digits, dots and underscores."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(c for c in text if c.isalnum() or c in "._").strip("._") or "user"


def ascii_pool(kind: str, locale: str) -> tuple[str, ...]:
    """The pool with every value made ASCII (for e-mail local parts, user names)."""
    key = (f"ascii:{kind}", locale)
    values = _pools.get(key)
    if values is None:
        values = _pools[key] = tuple(ascii_slug(v) for v in pool(kind, locale))
    return values
