"""Property-based: any value a model field can hold makes the round trip
server -> HTTP -> client exactly (hypothesis generates the values).
30 examples by default; SYNCTOOL_PROPERTY_EXAMPLES=500 for a longer hunt.

Both databases are the same backend, so a value the backend itself changes
on storage (SQLite's decimals, PostgreSQL's jsonb -0.0) is compared as the
server's database returns it: the client must hold exactly that.
"""

import datetime
import decimal
import math
import os

import orjson
import pytest
from django.db import DatabaseError, connections, transaction
from hypothesis import HealthCheck, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.conftest import e2e
from tests.testapp.models import AllTypes

UTC = datetime.UTC


def vendor() -> str:
    return connections["server"].vendor


# PostgreSQL cannot store NUL in text (nor \u0000 in jsonb).
NUL_STORABLE = vendor() != "postgresql"
SPECIAL_CHARACTERS = [
    "\x01", "\x08", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f", "\x85", "\xa0",
    "\u2028", "\u2029", "\ufeff", "\ufffd", "€", "😀", "𝄞", "\U0010ffff", '"', "\\", "'",
]  # fmt: skip
if NUL_STORABLE:
    SPECIAL_CHARACTERS.append("\x00")

characters = st.one_of(
    # Every code point UTF-8 can carry (no lone surrogates), control characters included.
    st.characters(codec="utf-8", exclude_characters=None if NUL_STORABLE else "\x00"),
    st.sampled_from(SPECIAL_CHARACTERS),
)


def text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(characters, max_size=max_size)


# JSON: what json.loads can return, finite floats only (see the NaN test below).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text(20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(text(8), children, max_size=4)
    ),
    max_leaves=12,
)

# max_digits=30, decimal_places=10. SQLite stores decimals as REAL: a value
# near 10**20 comes back as a float Django cannot quantize to 30 digits
# (InvalidOperation when the server reads its own row), so stay below 10**19.
DECIMAL_LIMIT = decimal.Decimal(
    "9999999999999999999.9999999999" if vendor() == "sqlite" else "99999999999999999999.9999999999"
)

all_types = st.fixed_dictionaries(
    {
        "char": text(100),
        "text": text(400),
        "integer": st.integers(-(2**31), 2**31 - 1),
        "big": st.integers(-(2**63), 2**63 - 1),
        "small": st.integers(-(2**15), 2**15 - 1),
        "positive": st.integers(0, 2**31 - 1),
        "floating": st.floats(
            allow_nan=False, allow_infinity=False, allow_subnormal=vendor() != "mysql"
        ),
        "decimal": st.decimals(
            min_value=DECIMAL_LIMIT.copy_negate(),
            max_value=DECIMAL_LIMIT,
            places=10,
            allow_nan=False,
        ),
        "boolean": st.booleans(),
        "nullable_bool": st.none() | st.booleans(),
        "date": st.none() | st.dates(min_value=datetime.date(1000, 1, 1)),
        "time": st.none() | st.times(),
        "datetime": st.none()
        | st.datetimes(
            min_value=datetime.datetime(1000, 1, 2),
            max_value=datetime.datetime(9999, 12, 30),
            timezones=st.just(UTC),
        ),
        "duration": st.none()
        | st.timedeltas(
            min_value=datetime.timedelta(days=-(10**8)), max_value=datetime.timedelta(days=10**8)
        ),
        # MariaDB's UUID column refuses some variant bits (the NCS variant).
        "uuid": st.none() | st.uuids(version=4 if vendor() == "mysql" else None),
        "binary": st.none() | st.binary(max_size=64),
        "json": st.none() | json_values,
        "nullable_char": st.none() | text(10),
        "ip": st.none() | st.ip_addresses().map(str),
    }
)


def exact(value):
    """A form of ``value`` whose equality is exact: floats by their bits (-0.0 is
    not 0.0), decimals by their digits, bytes as bytes, recursively in JSON."""
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, decimal.Decimal):
        return ("decimal", str(value))
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, dict):
        return ("dict", {key: exact(item) for key, item in value.items()})
    if isinstance(value, list):
        return ("list", [exact(item) for item in value])
    if isinstance(value, bool | int):
        return (type(value).__name__, value)
    return value


def stored(using: str) -> list:
    return [exact(row) for row in AllTypes.objects.using(using).order_by("pk").values()]


@e2e
@hypothesis_settings(
    max_examples=int(os.environ.get("SYNCTOOL_PROPERTY_EXAMPLES", "30")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(all_types, min_size=1, max_size=3))
def test_every_value_makes_the_round_trip_exactly(client_for, rows):
    AllTypes.objects.using("server").all().delete()
    for values in rows:
        AllTypes.objects.using("server").create(**values)
    server_rows = stored("server")
    note(f"server rows: {server_rows!r}")
    client_for().sync("alltypes-table", clean=True)
    assert stored("default") == server_rows


def store_on_server(**values):
    """Create an AllTypes row on the server, or skip when the backend refuses the value."""
    try:
        with transaction.atomic(using="server"):
            return AllTypes.objects.using("server").create(**values)
    except (DatabaseError, ValueError) as exc:
        pytest.skip(f"{vendor()} cannot store {values!r}: {exc}")


@e2e
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan], ids=["inf", "-inf", "nan"])
def test_non_finite_floats_make_the_round_trip(client_for, value):
    store_on_server(floating=value)
    server_rows = stored("server")
    stored_value = AllTypes.objects.using("server").get().floating
    assert stored_value == value or (math.isnan(value) and math.isnan(stored_value))
    client_for().sync("alltypes-table")
    assert stored("default") == server_rows


def test_times_keep_every_microsecond_digit_on_the_wire():
    """orjson 3.13 writes 10000-99999 microseconds of a time with five digits."""
    from django.utils.dateparse import parse_time

    from synctool.wire import encode_object

    for microsecond in [*range(0, 1_000_000, 997), 9999, 10000, 54321, 99999, 100000]:
        value = datetime.time(5, 6, 7, microsecond)
        encoded = orjson.loads(encode_object({"model": "m", "pk": 1, "fields": {"t": value}}))
        assert parse_time(encoded["fields"]["t"]) == value
