"""PostgreSQL: datetimes read with psycopg's C parser are the values Django gives."""

import datetime
import zoneinfo

import pytest
from django.db import connection

from synctool.backends import backend_for
from synctool.backends.pgdatetimes import c_datetimes
from tests.testapp.models import AllTypes

Format = pytest.importorskip("psycopg.pq").Format

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's loaders"),
]

MOMENTS = [
    datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=datetime.UTC),
    datetime.datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=datetime.UTC),
    datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
    datetime.datetime(2024, 3, 31, 1, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    datetime.datetime(1887, 5, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Kolkata")),
]


def timestamptz_loader():
    oid = connection.connection.adapters.types["timestamptz"].oid
    return connection.connection.adapters.get_loader(oid, Format.TEXT)


def read():
    return [
        (value, value.tzinfo)
        for value in AllTypes.objects.order_by("pk").values_list("datetime", flat=True)
    ]


@pytest.fixture
def moments():
    AllTypes.objects.bulk_create(
        [AllTypes(pk=index, datetime=value) for index, value in enumerate(MOMENTS, 1)]
    )


def raw_connection(session_time_zone):
    """A psycopg connection of its own to the test database, in ``session_time_zone``."""
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    raw = psycopg.connect(**params, autocommit=True)
    raw.execute("SELECT set_config('TimeZone', %s, false)", [session_time_zone])
    return raw


TEXTS = [
    "2024-02-29 23:59:59.999999+00",
    "0001-01-02 00:00:00.000001+00",
    "9999-12-31 23:59:59+00",
    "2024-03-31 01:30:00+01",
    "2024-10-27 02:30:00+05:30",
    "1887-05-01 12:00:00+05:53:28",
]


@pytest.mark.parametrize("session_time_zone", ["UTC", "America/New_York"])
@pytest.mark.parametrize(
    "django_time_zone",
    [datetime.UTC, zoneinfo.ZoneInfo("America/New_York"), None],
    ids=["utc", "new-york", "naive"],
)
def test_the_values_and_their_tzinfo_are_djangos(session_time_zone, django_time_zone):
    from django.db.backends.postgresql.psycopg_any import register_tzloader

    from synctool.backends.pgdatetimes import _c_loader_class, _loader_like

    sql = "SELECT " + ", ".join(f"%s::timestamptz AS t{i}" for i in range(len(TEXTS)))
    values = {}
    for kind in ("django", "c"):
        with raw_connection(session_time_zone) as raw:
            register_tzloader(django_time_zone, raw)
            if kind == "c":
                django_loader = raw.adapters.get_loader(raw.adapters.types["timestamptz"].oid, 0)
                raw.adapters.register_loader(
                    "timestamptz", _loader_like(django_loader, _c_loader_class())
                )
            values[kind] = raw.execute(sql, TEXTS).fetchone()
    assert values["c"] == values["django"]
    assert [v.tzinfo for v in values["c"]] == [v.tzinfo for v in values["django"]]
    assert [v.utcoffset() for v in values["c"]] == [v.utcoffset() for v in values["django"]]


def test_the_connections_values_are_unchanged(moments):
    expected = read()
    with c_datetimes(connection):
        assert timestamptz_loader().__name__ == "CParsedTzLoader"
        assert read() == expected
    assert [value for value, _ in expected] == MOMENTS


def test_djangos_loader_is_back_afterwards_even_after_an_error(moments):
    django_loader = timestamptz_loader()
    with pytest.raises(RuntimeError), c_datetimes(connection):
        assert timestamptz_loader() is not django_loader
        raise RuntimeError
    assert timestamptz_loader() is django_loader


def test_reading_a_queryset_in_chunks_uses_it(moments):
    django_loader = timestamptz_loader()
    rows = backend_for(connection).iterate(
        AllTypes.objects.order_by("pk"), 2, key_of=lambda obj: obj.pk
    )
    first = next(rows)
    assert timestamptz_loader() is not django_loader
    assert [first.datetime, *(obj.datetime for obj in rows)] == MOMENTS
    assert timestamptz_loader() is django_loader
