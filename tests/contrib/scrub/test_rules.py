"""synctool_contrib.scrub: determinism, unique safety (100,000 rows), natural keys,
the personal fields."""

import datetime
import ipaddress
import json

import pytest
from django.contrib.auth.models import User
from django.core import serializers
from django.core.validators import validate_email
from django.db import models
from django.test.utils import isolate_apps

from synctool import embedded
from synctool.plugins import get_hooks
from synctool.server.export import serialize_querysets
from synctool.wire import encode_object
from synctool_contrib.scrub import transform_object
from synctool_contrib.scrub.fields import unique_field_names
from synctool_contrib.scrub.personal import _category, personal_fields
from synctool_contrib.scrub.rules import natural_key_fields
from tests.conftest import e2e
from tests.contrib.scrub.helpers import (
    RULES,
    build,
    scrub,
)  # fmt: skip
from tests.testapp.models import AllTypes, Author, Blog, Tag

# -- determinism -----------------------------------------------------------------


def test_equal_values_give_equal_outputs_across_models(settings):
    settings.SYNCTOOL_SCRUB = RULES
    user = scrub("auth.user", {"email": "ann@example.org", "username": "ann"})
    author = scrub("testapp.author", {"email": "ann@example.org", "name": "Ann"})
    assert user["email"] == author["email"]  # auth.user.email is not unique, author's is
    again = scrub("auth.user", {"email": "ann@example.org", "username": "ann"})
    assert again == user


def test_the_key_comes_from_the_secret_or_secret_key(settings):
    settings.SYNCTOOL_SCRUB = RULES
    settings.SYNCTOOL_SCRUB_SECRET = None
    derived = scrub("testapp.author", {"email": "ann@example.org"})["email"]
    settings.SECRET_KEY = "another-secret-key"
    assert scrub("testapp.author", {"email": "ann@example.org"})["email"] != derived
    settings.SYNCTOOL_SCRUB_SECRET = "shared-between-machines"
    shared = scrub("testapp.author", {"email": "ann@example.org"})["email"]
    settings.SECRET_KEY = "yet-another-secret-key"
    assert scrub("testapp.author", {"email": "ann@example.org"})["email"] == shared
    assert shared != derived


def test_server_and_client_sides_give_the_same_bytes(settings):
    settings.SYNCTOOL_SCRUB = {
        "testapp.alltypes": {"date": "date_shift", "datetime": "date_shift", "char": "hash"}
    }
    when = datetime.datetime(2021, 6, 1, 12, 30, 0, 250000, tzinfo=datetime.UTC)
    server = {
        "model": "testapp.alltypes",
        "pk": 3,
        "fields": {"date": datetime.date(2021, 6, 1), "datetime": when, "char": "c"},
    }
    client = json.loads(encode_object(server))  # what the client decodes
    transform_object(server)
    transform_object(client)
    assert encode_object(server) == encode_object(client)


def test_rules_are_recompiled_when_the_setting_changes(settings):
    settings.SYNCTOOL_SCRUB = {"testapp.blog": {"name": "hash"}}
    hashed = scrub("testapp.blog", {"name": "red"})["name"]
    settings.SYNCTOOL_SCRUB = {"testapp.blog": {"name": {"const": "blog"}}}
    assert scrub("testapp.blog", {"name": "red"})["name"] == "blog"
    assert hashed not in ("red", "blog")


def test_plugin_runs_through_the_hook_on_either_side(scrubbing):
    for side in ("server", "client"):
        obj = {"model": "testapp.author", "pk": 1, "fields": {"email": "ann@example.org"}}
        get_hooks().transform_object(obj=obj, side=side)
        assert obj["fields"]["email"] != "ann@example.org"
        validate_email(obj["fields"]["email"])


# -- unique safety ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "kind", "max_length"),
    [
        ("email", "text", 254),
        ("username", "text", 150),
        ("name", "text", 100),
        ("first_name", "text", 50),
        ("last_name", "text", 50),
        ("address", "text", 200),
        ("phone", "text", 30),
        ("text", "text", 200),
        ("hash", "text", 32),
        ("ip", "ip", 39),
        ("unusable_password", "text", 128),
    ],
)
def test_unique_fields_never_collide_100k(strategy, kind, max_length):
    function = build(strategy, kind=kind, unique=True, max_length=max_length)
    # Near-identical inputs: case and one-character variants of each other.
    values = [
        f"Person{i // 2}@Example.org" if i % 2 else f"person{i // 2}@example.org"
        for i in range(100_000)
    ]
    if strategy == "ip":
        values = [str(ipaddress.IPv4Address(0x0A000000 + i)) for i in range(100_000)]
    outputs = [function(value, {"pk": index}) for index, value in enumerate(values)]
    assert len(set(outputs)) == 100_000
    assert max(map(len, outputs)) <= max_length


def test_unique_detection():
    assert unique_field_names(Author) == {"id", "email"}
    assert "name" in unique_field_names(Tag)
    assert unique_field_names(Blog) >= {"slug"} and "name" not in unique_field_names(Blog)
    from django.contrib.auth.models import Permission

    assert {"content_type", "codename"} <= unique_field_names(Permission)  # unique_together


@e2e
def test_100k_unique_rows_through_server_side_scrubbing(scrubbing):
    Author.objects.using("server").bulk_create(
        [
            Author(
                email=f"Person{i // 2}@Example.org" if i % 2 else f"person{i // 2}@example.org",
                name="Same Name",
                phone="+1 202 555 0100",
            )
            for i in range(100_000)
        ],
        batch_size=5000,
    )
    objects = list(serialize_querysets([Author.objects.using("server").all()]))
    assert len(objects) == 100_000
    # The client's unique constraint is the judge.
    Author.objects.using("default").bulk_create(
        [Author(pk=obj["pk"], **obj["fields"]) for obj in objects], batch_size=5000
    )
    emails = list(Author.objects.using("default").values_list("email", flat=True))
    assert len(emails) == len(set(emails)) == 100_000
    assert not any(e.startswith("person") for e in emails)


# -- natural keys ----------------------------------------------------------------


def test_natural_key_fields_are_found():
    assert natural_key_fields(User) == ("username",)
    assert natural_key_fields(Author) == ("email",)
    assert natural_key_fields(Blog) is None


def test_natural_key_references_follow_the_scrubbed_field(settings):
    settings.SYNCTOOL_SCRUB = {**RULES, "auth.group": {"name": "name"}}
    author = scrub("testapp.author", {"email": "ann@example.org"})
    blog = scrub("testapp.blog", {"name": "b", "author": ["ann@example.org"]})
    assert blog["author"] == [author["email"]]
    assert scrub("testapp.blog", {"author": 3})["author"] == 3  # a plain key is left alone
    group = scrub("auth.group", {"name": "editors"})
    user = scrub("auth.user", {"username": "ann", "groups": [["editors"], ["other"]]})
    assert user["groups"][0] == [group["name"]] and user["groups"][1] != ["other"]


def test_the_objects_inside_a_version_are_scrubbed_as_the_rows_are(scrubbing):
    """django-reversion's versions hold whole objects: a user's version gets the
    email and username the user's row gets, and references follow."""
    inner = [
        {"model": "auth.user", "fields": {"username": "ann", "email": "ann@example.org"}},
        {"model": "testapp.blog", "pk": 4, "fields": {"name": "b", "author": ["ann@example.org"]}},
    ]
    version = {
        "model": "reversion.version",
        "pk": 1,
        "fields": {"format": "json", "serialized_data": json.dumps(inner), "object_id": "4"},
    }
    for side in ("server", "client"):
        obj = json.loads(json.dumps(version))
        embedded.transform_inner("reversion.version", obj, get_hooks().transform_object, side=side)
        user, blog = json.loads(obj["fields"]["serialized_data"])
        assert user["fields"] == scrub("auth.user", {"username": "ann", "email": "ann@example.org"})
        assert blog["fields"]["author"] == [
            scrub("testapp.author", {"email": "ann@example.org"})["email"]
        ]
        assert "ann" not in obj["fields"]["serialized_data"]
    xml = {**version, "fields": {**version["fields"], "format": "xml"}}
    embedded.transform_inner("reversion.version", xml, get_hooks().transform_object, "server")
    assert xml == {**version, "fields": {**version["fields"], "format": "xml"}}


@e2e
def test_natural_keys_still_resolve_after_server_side_scrubbing(scrubbing):
    author = Author.objects.using("server").create(email="ann@example.org", name="Ann Real")
    Blog.objects.using("server").create(name="b", slug="b", author=author)
    objects = list(
        serialize_querysets(
            [Author.objects.using("server").all(), Blog.objects.using("server").all()],
            key_identified=frozenset({"testapp.author"}),
        )
    )
    assert "ann@example.org" not in json.dumps(objects)
    for item in serializers.deserialize("python", objects, using="default"):
        item.save(using="default")
    local = Blog.objects.using("default").get(slug="b")
    assert local.author.email == objects[0]["fields"]["email"]
    assert local.author.name != "Ann Real"


# -- personal fields -----------------------------------------------------------


def _field(field, name):
    field.set_attributes_from_name(name)
    return field


@pytest.mark.parametrize(
    ("field", "name", "personal"),
    [
        (models.CharField(max_length=20), "mobile_phone", True),
        (models.IntegerField(), "phone", True),
        (models.DateField(), "date_of_birth", True),
        (models.CharField(max_length=20), "zip_code", True),
        (models.CharField(max_length=20), "client_ip", True),
        (models.CharField(max_length=20), "iban", True),
        (models.EmailField(), "contact", True),
        (models.BooleanField(), "email_verified", False),
        (models.DateTimeField(), "email_sent_at", False),
        (models.CharField(max_length=20), "hotel", False),
        (models.CharField(max_length=20), "title", False),
        (models.JSONField(), "home_address", True),  # an address held as JSON
        (models.JSONField(), "settings", False),
    ],
)
def test_personal_field_detection(field, name, personal):
    assert (_category(_field(field, name)) is not None) is personal


def test_personal_fields_of_models():
    assert set(personal_fields(User)) == {
        "username",
        "first_name",
        "last_name",
        "email",
        "password",
    }
    assert set(personal_fields(Author)) == {"email", "name", "phone"}  # name: next to an email
    assert personal_fields(Blog) == {} and personal_fields(Tag) == {}
    # A JSON value next to a personal field may hold more: flagged, with why.
    assert personal_fields(AllTypes) == {
        "ip": "an IP address",
        "json": "a JSON value next to personal fields (it may hold some)",
    }


@isolate_apps("tests.testapp")
def test_a_json_value_without_personal_fields_beside_it_is_not_flagged():
    class Revision(models.Model):
        title = models.CharField(max_length=20)
        content = models.JSONField()

        class Meta:
            app_label = "testapp"

    class Profile(models.Model):
        email = models.EmailField()
        preferences = models.JSONField(default=dict)

        class Meta:
            app_label = "testapp"

    assert personal_fields(Revision) == {}
    assert set(personal_fields(Profile)) == {"email", "preferences"}


def test_the_text_of_a_generic_relations_object_is_flagged():
    """A log entry about any object keeps its text (Wagtail's ``label``, the
    admin's ``object_repr``): a user's name when the object is a user. A
    label on a model without a generic relation (a tag's) is not flagged."""
    from tests.shop.models import LogEntry

    assert set(personal_fields(LogEntry)) == {"label"}
    assert "generic relation" in personal_fields(LogEntry)["label"]
    assert personal_fields(Tag) == {}

    class Note(models.Model):
        label = models.CharField(max_length=20)

        class Meta:
            app_label = "testapp"

    assert personal_fields(Note) == {}
