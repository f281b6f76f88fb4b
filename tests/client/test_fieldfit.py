"""Which changes of a field's type the schema gate lets through: widening only."""

import pytest

from synctool.client.fieldfit import misfit, null_misfit


def field(kind, **more):
    return {"name": "f", "kind": kind, "null": False, **more}


@pytest.mark.parametrize(
    ("here", "there"),
    [
        ("IntegerField", "IntegerField"),
        ("BigIntegerField", "IntegerField"),
        ("IntegerField", "SmallIntegerField"),
        ("IntegerField", "PositiveIntegerField"),
        ("BigAutoField", "AutoField"),
        ("PositiveBigIntegerField", "PositiveIntegerField"),
        ("TextField", "CharField"),
        ("TextField", "SlugField"),
        ("CharField", "SlugField"),
        ("ForeignKey", "OneToOneField"),
    ],
)
def test_this_code_may_hold_more(here, there):
    assert misfit(field(here), field(there)) is None


@pytest.mark.parametrize(
    ("here", "there"),
    [
        ("IntegerField", "FloatField"),
        ("IntegerField", "BigIntegerField"),
        ("PositiveIntegerField", "IntegerField"),  # negative numbers
        ("SmallIntegerField", "AutoField"),
        ("CharField", "TextField"),
        ("DateField", "DateTimeField"),
        ("TextField", "JSONField"),
        ("OneToOneField", "ForeignKey"),
    ],
)
def test_this_code_may_not_hold_less_or_else(here, there):
    def a(kind):
        return ("an " if kind[0] in "AEIOU" else "a ") + kind

    assert misfit(field(here), field(there)) == (
        f"production's is {a(there)} and this code's {a(here)}"
    )


def test_decimals_need_as_many_places_and_whole_digits():
    def decimal(digits, places):
        return field("DecimalField", max_digits=digits, decimal_places=places)

    assert misfit(decimal(8, 2), decimal(8, 2)) is None
    assert misfit(decimal(12, 4), decimal(8, 2)) is None
    assert misfit(decimal(8, 2), decimal(10, 4)) == (
        "production's is a DecimalField(max_digits=10, decimal_places=4) and this code's a "
        "DecimalField(max_digits=8, decimal_places=2)"
    )
    assert misfit(decimal(8, 4), decimal(8, 2)) is not None  # 4 whole digits where 6 arrive
    # An older server does not say.
    assert misfit(decimal(8, 2), field("DecimalField")) is None


def test_a_relation_to_another_model_differs():
    assert misfit(field("ForeignKey", to="auth.user"), field("ForeignKey", to="auth.user")) is None
    assert misfit(field("ForeignKey", to="shop.buyer"), field("ForeignKey", to="auth.user")) == (
        "production's points at auth.user and this code's at shop.buyer"
    )


def test_what_an_older_server_leaves_out_is_not_compared():
    assert misfit(field("IntegerField"), {"name": "f"}) is None


def test_null_only_where_production_allows_it_and_this_code_does_not():
    assert null_misfit(field("CharField"), {**field("CharField"), "null": True})
    assert not null_misfit({**field("CharField"), "null": True}, field("CharField"))
    assert not null_misfit(field("CharField"), field("CharField"))
