"""The value a new row takes in a field production does not send (a laptop one
deploy ahead), and the gate's refusal of a field that has none."""

import datetime
from decimal import Decimal

import pytest
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from synctool.client.fieldfill import missing_value
from synctool.client.gate import check_schema
from synctool.client.rowload import RowBuilder
from synctool.meta import describe_fields
from tests.testapp.models import Post


def named(field: models.Field) -> models.Field:
    field.set_attributes_from_name("f")
    return field


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (models.IntegerField(default=7), 7),
        (
            models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("1.50")),
            Decimal("1.50"),
        ),
        (models.IntegerField(null=True), None),
        (models.CharField(max_length=10), ""),
        (models.TextField(), ""),
        (models.IntegerField(db_default=3), 3),
        (models.CharField(max_length=10, db_default="new"), "new"),
    ],
)
def test_a_new_row_gets_what_django_would_give_a_new_object(field, value):
    assert missing_value(named(field))() == value


def test_auto_now_fields_get_the_time_of_the_write():
    before = timezone.now()
    stamped = missing_value(named(models.DateTimeField(auto_now=True)))()
    assert before <= stamped <= timezone.now()
    assert missing_value(named(models.DateField(auto_now_add=True)))() == datetime.date.today()


@pytest.mark.parametrize(
    "field",
    [
        models.IntegerField(),
        models.DateTimeField(),
        models.BooleanField(),
        models.DateTimeField(db_default=Now()),  # an SQL expression: not evaluated here
    ],
)
def test_a_not_null_field_without_a_default_has_no_value(field):
    assert missing_value(named(field)) is None


def test_the_row_builder_fills_an_auto_now_field_production_does_not_send():
    builder = RowBuilder(Post, frozenset({"updated", "views"}))
    obj = {
        "model": "testapp.post",
        "pk": 5,
        "fields": {
            "blog": 1,
            "title": "t",
            "body": "",
            "created": "2026-12-01T10:00:00Z",
            "hero_image": "",
            "tags": [],
        },
    }
    row = builder.row(obj)
    names = [name for name, *_ in builder.columns]
    assert row[names.index("views")] == 0
    assert isinstance(row[names.index("updated")], datetime.datetime)


def manifest_without(*names: str) -> dict:
    sent = [field for field in describe_fields(Post) if field["name"] not in names]
    return {"schema": {"testapp.post": {"fields": sent}}, "migrations": {}}


@pytest.mark.django_db
def test_the_gate_refuses_a_field_production_does_not_send_and_rows_cannot_do_without():
    report = check_schema(
        manifest_without("blog", "created", "updated", "title", "views"),
        ["testapp.post"],
        "default",
    )
    assert report.refusals == [
        "testapp.post: production does not send fields 'blog', 'created', which this code "
        "requires with no default (not null, no default, no constant db_default): rows new "
        "here could not be written; give them a default in this code, or deploy the "
        "migration that adds them to production"
    ]
    # Where this database applied migrations production has not, the refusal names them.
    manifest = manifest_without("blog", "created")
    manifest["migrations"] = {"testapp": []}
    (refusal,) = check_schema(manifest, ["testapp.post"], "default").refusals
    assert refusal.endswith(
        "deploy the migration that adds them to production (applied here, not on "
        "production: testapp.0001_initial)"
    )
    # The ones a new row can take a value for are left alone, as before; the
    # note names only them (not "get the default" for a field that has none).
    assert report.plans["testapp.post"].kept_fields >= {"updated", "title", "views"}
    assert [note for note in report.notes if "production does not send" in note] == [
        "testapp.post: production does not send fields 'title', 'updated', 'views': local "
        "values are left alone on rows updated in place; new rows, and rows --clean or "
        "--incremental replace, get the default"
    ]


@pytest.mark.django_db
def test_fields_with_a_value_for_new_rows_are_not_refused():
    report = check_schema(
        manifest_without("updated", "title", "views", "tags"), ["testapp.post"], "default"
    )
    assert report.refusals == []
    assert any(
        "production does not send fields 'tags', 'title', 'updated', 'views'" in note
        for note in report.notes
    )
