"""synctool is no worse than dumpdata/loaddata on any value: every kind of
primary key, foreign keys and many-to-many lists to them, natural keys with
dates and times in them."""

import datetime
import decimal
import uuid

import pytest
from django.apps import apps
from django.core.management import call_command

from tests.conftest import e2e
from tests.fieldtypes import models as m
from tests.identity import migrate_differently
from tests.utils import model_rows

UTC = datetime.UTC
TIMES = [datetime.time(9, 0, 0, 12345), datetime.time(23, 59, 59, 999999)]
DATETIMES = [
    datetime.datetime(2024, 2, 29, 23, 59, 58, 999999, tzinfo=UTC),
    datetime.datetime(1999, 12, 31, 0, 0, 0, 10001, tzinfo=UTC),
]
DECIMALS = [decimal.Decimal("12.345"), decimal.Decimal("-0.001")]
UUIDS = [uuid.UUID("12345678-1234-5678-1234-567812345678"), uuid.uuid4()]
PRIMARY_KEYS = {
    m.CharPK: ["ünïcode key", "with 'quotes' & \\"],
    m.DatePK: [datetime.date(2000, 1, 1), datetime.date(1970, 12, 31)],
    m.DateTimePK: DATETIMES,
    m.DecimalPK: DECIMALS,
    m.EmailPK: ["ann@example.org", "b.o+b@example.co.uk"],
    m.FloatPK: [1.5, -0.25],
    m.IntegerPK: [0, -(2**31)],
    m.BigIntegerPK: [2**62, -(2**62)],
    m.IPAddressPK: ["192.168.0.1", "2001:db8::1"],
    m.SlugPK: ["a-slug", "b_slug"],
    m.TimePK: TIMES,
    m.UUIDPK: UUIDS,
}


def fill(using="server"):
    for model, keys in PRIMARY_KEYS.items():
        for key in keys:
            model.objects.using(using).create(pk=key, data=f"{key}"[:30])
    for index in range(2):
        refs = m.References.objects.using(using).create(
            char_id=PRIMARY_KEYS[m.CharPK][index],
            datetime_id=DATETIMES[index],
            decimal_id=DECIMALS[index],
            time_id=TIMES[index],
            uuid_id=UUIDS[index],
        )
        refs.times.set(TIMES)
        refs.datetimes.set(DATETIMES)
        refs.decimals.set(DECIMALS)
        refs.uuids.set(UUIDS)
    items = [
        m.NaturalItem.objects.using(using).create(
            code=f"c{index}", day=datetime.date(2020, 2, 29), at=TIMES[index], label="x"
        )
        for index in range(2)
    ]
    for item in items:
        ref = m.NaturalReferences.objects.using(using).create(item=item)
        ref.items.set(items)


def rows_by_identity(model, using):
    """Rows with references to NaturalItem by natural key (its ids may differ)."""
    if model is m.NaturalItem:
        rows = model.objects.using(using).exclude(code="local")  # the laptop's own row
        return sorted(rows.values_list("code", "day", "at", "label"))
    if model is m.NaturalReferences:
        return sorted(
            (
                ref.pk,
                ref.item.natural_key(),
                sorted(item.natural_key() for item in ref.items.all()),
            )
            for ref in model.objects.using(using).all()
        )
    return model_rows(model, using)


def correct_models(using="default"):
    """The models whose every row (values and references) equals the server's."""
    config = apps.get_app_config("fieldtypes")
    return {
        model._meta.label
        for model in config.get_models(include_auto_created=True)
        # The through rows of NaturalReferences.items hold local ids of
        # NaturalItem: compared by natural key with NaturalReferences.
        if model is not m.NaturalReferences.items.through
        and rows_by_identity(model, using) == rows_by_identity(model, "server")
    }


def empty_client():
    config = apps.get_app_config("fieldtypes")
    for model in reversed(list(config.get_models(include_auto_created=True))):
        model._base_manager.using("default").all().delete()


@e2e
def test_no_worse_than_dumpdata_and_loaddata(client_for, tmp_path):
    fill()
    migrate_differently("default")
    # Natural items already on the laptop, under other ids.
    m.NaturalItem.objects.create(code="local", day=datetime.date(2000, 1, 1), at=TIMES[0])
    fixture = tmp_path / "fieldtypes.json"
    call_command(
        "dumpdata", "fieldtypes", "--natural-foreign", "--natural-primary",
        database="server", output=str(fixture), verbosity=0,
    )  # fmt: skip
    try:
        call_command("loaddata", str(fixture), database="default", verbosity=0)
        by_loaddata = correct_models()
    except Exception as exc:  # noqa: BLE001 - loaddata failing is a result too
        by_loaddata = set()
        print(f"loaddata failed: {exc}")
    empty_client()
    m.NaturalItem.objects.create(code="local", day=datetime.date(2000, 1, 1), at=TIMES[0])

    client_for().sync("fieldtypes")
    by_synctool = correct_models()
    assert by_loaddata <= by_synctool, by_loaddata - by_synctool
    # And synctool gets every model right, loaddata does not (microseconds).
    all_models = {
        model._meta.label
        for model in apps.get_app_config("fieldtypes").get_models(include_auto_created=True)
        if model is not m.NaturalReferences.items.through
    }
    assert by_synctool == all_models, all_models - by_synctool
    assert by_loaddata != all_models
    # Twice: the same rows.
    client_for().sync("fieldtypes")
    assert correct_models() == all_models
    assert m.NaturalItem.objects.filter(code="local").exists()


@pytest.mark.parametrize("clean", [False, True])
@e2e
def test_clean_and_again(client_for, clean):
    fill()
    client_for().sync("fieldtypes", clean=clean)
    client_for().sync("fieldtypes", clean=clean)
    for model in (m.TimePK, m.DateTimePK, m.DecimalPK, m.UUIDPK, m.References):
        assert rows_by_identity(model, "default") == rows_by_identity(model, "server")
