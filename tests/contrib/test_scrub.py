"""synctool_contrib.scrub: the strategies one by one, determinism, unique
safety (100,000 rows), natural keys, the system checks, strict mode, the
report command, and end to end over HTTP with the scrubbing done by the
server process (and by the client)."""

import datetime
import ipaddress
import json
import sys

import pytest
import requests
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.models import Group, User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core import checks, serializers
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.validators import validate_email
from django.db import models

from synctool.exceptions import ConfigurationError, SynctoolError
from synctool.plugins import get_hooks
from synctool.server.export import serialize_querysets
from synctool.wire import encode_object
from synctool_contrib.scrub import fakedata, transform_object
from synctool_contrib.scrub.fields import FieldInfo, unique_field_names
from synctool_contrib.scrub.keys import derive_key
from synctool_contrib.scrub.personal import _category, personal_fields
from synctool_contrib.scrub.rules import Context, get_scrubber, natural_key_fields
from synctool_contrib.scrub.strategies import STRATEGIES
from tests.conftest import TOKEN, e2e, start_server, stop_server
from tests.testapp.models import AllTypes, Author, Blog, Post, Tag
from tests.utils import database_digest

PLUGIN = "synctool_contrib.scrub"
RULES = {
    "auth.user": {
        "email": "email",
        "first_name": "first_name",
        "last_name": "last_name",
        "password": "unusable_password",
        "username": "username",
    },
    "testapp.author": {"email": "email", "name": "name", "phone": "phone"},
    "testapp.post": {"created": {"date_shift": 10}, "body": "text"},
    "*": {"ip": "ip"},
}
CONTEXT = Context(derive_key("unit-test-secret"), "en_US")


def build(name, option=None, *, kind="text", **info):
    """The scrub function of strategy ``name`` for a field described by ``info``."""
    field = FieldInfo(label="testapp.thing", name="f", kind=kind, **info)
    return STRATEGIES[name].build(field, option, CONTEXT)


def scrub(label, fields, pk=1):
    obj = {"model": label, "pk": pk, "fields": dict(fields)}
    transform_object(obj)
    return obj["fields"]


@pytest.fixture
def scrubbing(settings):
    """The scrub plugin registered in this process, with RULES."""
    settings.SYNCTOOL_PLUGINS = [*settings.SYNCTOOL_PLUGINS, PLUGIN]
    settings.SYNCTOOL_SCRUB = RULES
    return settings


# -- the strategies, one by one ------------------------------------------------


def test_null_blank_const():
    assert build("null", null=True)("secret", None) is None
    assert build("blank")("secret", None) == ""
    assert build("const", False, kind="other")(True, None) is False
    make_list = build("const", ["a"], kind="m2m")
    first = make_list([1, 2], None)
    first.append("changed")
    assert make_list([3], None) == ["a"]  # each object gets its own copy


def test_keep_leaves_the_field_out_and_wins_over_wildcard(settings):
    settings.SYNCTOOL_SCRUB = {
        "*": {"ip": "ip", "char": "hash"},
        "testapp.alltypes": {"ip": "keep"},
    }
    fields = scrub("testapp.alltypes", {"ip": "192.0.2.7", "char": "x"})
    assert fields["ip"] == "192.0.2.7"
    assert fields["char"] != "x"
    assert [name for name, _ in get_scrubber().plan("testapp.alltypes")] == ["char"]


def test_hash():
    function = build("hash")
    out = function("NL91ABNA0417164300", None)
    assert len(out) == 32 and int(out, 16) >= 0
    assert function("NL91ABNA0417164300", None) == out
    assert function("NL91ABNA0417164301", None) != out
    assert len(build("hash", max_length=20)("x", None)) == 20
    assert function(None, None) is None and function("", None) == ""
    other = STRATEGIES["hash"].build(
        FieldInfo("a.b", "f", "text"), None, Context(derive_key("another secret"), "en_US")
    )
    assert other("NL91ABNA0417164300", None) != out


def test_email_is_valid_reserved_and_deterministic():
    function = build("email", max_length=254)
    outputs = {function(f"person{i}@gmail.com", None) for i in range(500)}
    assert len(outputs) == 500
    for out in outputs:
        validate_email(out)
        assert out.rsplit("@", 1)[1] in ("example.com", "example.net", "example.org")
        assert "person" not in out
    assert function("Ann@Example.org", None) == function("Ann@Example.org", None)
    short = build("email", max_length=32)("a.very.long.address@example.org", None)
    assert len(short) <= 32
    validate_email(short)


def test_username_is_valid():
    function = build("username", max_length=150)
    validator = UnicodeUsernameValidator()
    outputs = {function(f"user{i}", None) for i in range(500)}
    assert len(outputs) == 500
    for out in outputs:
        validator(out)
    assert len(build("username", max_length=20)("somebody", None)) <= 20


def test_names_come_from_faker_and_follow_the_locale(settings):
    first_en = set(fakedata.pool("first_name", "en_US"))
    last_en = set(fakedata.pool("last_name", "en_US"))
    first_de = set(fakedata.pool("first_name", "de_DE"))
    assert first_en != first_de
    name = build("name")("Ada Lovelace", None)
    first, last = name.split(" ", 1)
    assert first in first_en and last in last_en
    assert build("first_name")("Ada", None) in first_en
    assert build("last_name")("Lovelace", None) in last_en
    german = STRATEGIES["first_name"].build(
        FieldInfo("a.b", "f", "text"), None, Context(derive_key("unit-test-secret"), "de_DE")
    )
    outputs = {german(f"Person {i}", None) for i in range(200)}
    assert outputs <= first_de and not outputs <= first_en


def test_locale_follows_language_code(settings):
    settings.SYNCTOOL_SCRUB_LOCALE = None
    settings.LANGUAGE_CODE = "fr-fr"
    assert fakedata.configured_locale() == "fr_FR"
    settings.LANGUAGE_CODE = "xx"
    assert fakedata.configured_locale() == fakedata.FALLBACK_LOCALE
    settings.SYNCTOOL_SCRUB_LOCALE = "it_IT"
    assert fakedata.configured_locale() == "it_IT"


def test_phone():
    function = build("phone", max_length=30)
    outputs = [function(f"+44 20 7946 {i:04d}", None) for i in range(1000)]
    assert len(set(outputs)) > 950
    for original, out in zip(range(1000), outputs, strict=True):
        assert out != f"+44 20 7946 {original:04d}" and len(out) <= 30
        assert sum(c.isdigit() for c in out) >= 7
    unique = build("phone", unique=True, max_length=30)("+44 20 7946 0000", None)
    assert unique.startswith("+") and unique[1:].isdigit() and len(unique) == 21


def test_address_is_one_line_from_the_pool():
    out = build("address")("221B Baker Street, London", None)
    assert "\n" not in out
    assert out in set(fakedata.pool("address", "en_US"))


@pytest.mark.parametrize("length", [1, 2, 3, 7, 8, 15, 16, 100, 1000, 5000])
def test_text_keeps_the_length_class(length):
    original = "x" * length
    out = build("text")(original, None)
    low = 1 << (length.bit_length() - 1)
    assert low <= len(out) <= 2 * low - 1
    assert out != original and build("text")(original, None) == out


def test_text_respects_max_length_and_empty():
    assert len(build("text", max_length=50)("y" * 1000, None)) <= 50
    assert build("text")("", None) == ""


def test_ip():
    function = build("ip", kind="ip")
    v4 = ipaddress.ip_address(function("203.0.113.9", None))
    assert v4.version == 4 and v4 in ipaddress.ip_network("10.0.0.0/8")
    v6 = ipaddress.ip_address(function("2001:db8::1", None))
    assert v6.version == 6 and v6 in ipaddress.ip_network("fd00::/8")
    unique = ipaddress.ip_address(build("ip", kind="ip", unique=True)("203.0.113.9", None))
    assert unique.version == 6
    assert function("203.0.113.9", None) != function("203.0.113.10", None)


def test_date_shift_server_and_client_values():
    function = build("date_shift", 10, kind="date")
    row = {"model": "testapp.thing", "pk": 7, "fields": {}}
    day = datetime.date(1990, 5, 17)
    moved = function(day, row)
    assert isinstance(moved, datetime.date)
    assert 1 <= abs((moved - day).days) <= 10
    assert function("1990-05-17", row) == moved.isoformat()  # the client sees strings
    when = datetime.datetime(2020, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC)
    stamp = build("date_shift", 10, kind="datetime")
    assert stamp(when, row) - when == moved - day  # the same shift for every date of a row
    assert stamp(when.isoformat(), row) == stamp(when, row).isoformat()
    assert stamp("2020-01-02T03:04:05.123456Z", row).endswith("Z")
    assert function(None, row) is None


def test_date_shift_is_stable_per_row_and_spread():
    function = build("date_shift", 3, kind="date")
    day = datetime.date(2000, 1, 1)
    shifts = {(function(day, {"pk": pk}) - day).days for pk in range(200)}
    assert shifts == {-3, -2, -1, 1, 2, 3}
    assert function(day, {"pk": 5}) == function(day, {"pk": 5})


def test_unusable_password():
    function = build("unusable_password")
    out = function("pbkdf2_sha256$870000$salt$hash", None)
    assert out.startswith("!") and len(out) == 41
    assert not is_password_usable(out)
    assert function("pbkdf2_sha256$870000$salt$hash", None) == out
    assert function("", None).startswith("!")


def shout(value, obj=None, field=None):
    """A callable strategy for the tests (referenced by dotted path)."""
    return f"{value.upper()}:{obj['pk']}:{field.name}"


def test_dotted_path_callable(settings):
    settings.SYNCTOOL_SCRUB = {"testapp.tag": {"name": "tests.contrib.test_scrub.shout"}}
    assert scrub("testapp.tag", {"name": "red"}, pk=4) == {"name": "RED:4:name"}


@pytest.mark.parametrize(
    "rule",
    [
        "wat",
        {"const": 1, "x": 2},
        "const",
        {"email": True},
        {"date_shift": -3},
        "tests.contrib.test_scrub.no_such_function",
        42,
    ],
)
def test_a_bad_rule_fails_closed(settings, rule):
    settings.SYNCTOOL_SCRUB = {"testapp.author": {"email": rule}}
    with pytest.raises(ConfigurationError, match="testapp.author"):
        scrub("testapp.author", {"email": "ann@example.org"})


def test_a_rule_the_field_cannot_take_fails_closed(settings):
    settings.SYNCTOOL_SCRUB = {"testapp.author": {"email": "blank"}}
    with pytest.raises(ConfigurationError, match="unique"):
        scrub("testapp.author", {"email": "ann@example.org"})


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
    assert set(personal_fields(AllTypes)) == {"ip"}


# -- system checks ----------------------------------------------------------------


def scrub_ids(settings, scrub_rules, **extra) -> list[str]:
    settings.SYNCTOOL_PLUGINS = [*settings.SYNCTOOL_PLUGINS, PLUGIN]
    settings.SYNCTOOL_SCRUB = scrub_rules
    for name, value in extra.items():
        setattr(settings, name, value)
    return sorted(
        {m.id for m in checks.run_checks() if m.id.startswith(("synctool.E1", "synctool.W1"))}
    )


def test_complete_rules_pass_the_checks(settings):
    assert scrub_ids(settings, RULES) == []


def test_checks_run_only_when_the_plugin_is_enabled(settings):
    settings.SYNCTOOL_SCRUB = {"nope.model": {"x": "wat"}}
    assert not [m for m in checks.run_checks() if m.id.startswith("synctool.E10")]


@pytest.mark.parametrize(
    ("scrub_rules", "expected"),
    [
        (["auth.user"], "synctool.E101"),
        ({"auth.user": "email"}, "synctool.E101"),
        ({"authuser": {"email": "email"}}, "synctool.E101"),
        ({"nope.model": {"x": "null"}}, "synctool.E102"),
        ({"auth.user": {"nosuch": "null"}}, "synctool.E103"),
        ({"testapp.author": {"id": "null"}}, "synctool.E103"),
        ({"testapp.restaurant": {"name": "name"}}, "synctool.E103"),
        ({"*": {"nosuch": "null"}}, "synctool.E103"),
        ({"auth.user": {"email": "wat"}}, "synctool.E104"),
        ({"auth.user": {"email": {"email": 1}}}, "synctool.E104"),
        ({"auth.user": {"last_login": {"date_shift": 0}}}, "synctool.E104"),
        ({"auth.user": {"email": "tests.contrib.test_scrub.nothing"}}, "synctool.E104"),
        ({"testapp.author": {"email": "blank"}}, "synctool.E105"),
        ({"testapp.author": {"name": "null"}}, "synctool.E105"),
        ({"testapp.alltypes": {"integer": "hash"}}, "synctool.E105"),
        ({"testapp.author": {"name": "date_shift"}}, "synctool.E105"),
        ({"testapp.blog": {"author": "email"}}, "synctool.E105"),
        ({"*": {"name": "null"}}, "synctool.E105"),
    ],
)
def test_rule_errors(settings, scrub_rules, expected):
    assert expected in scrub_ids(settings, scrub_rules)


def test_restaurant_hint_names_the_parent(settings):
    scrub_ids(settings, {"testapp.restaurant": {"name": "name"}})
    (message,) = [m for m in checks.run_checks() if m.id == "synctool.E103"]
    assert "testapp.Place" in message.hint


@pytest.mark.parametrize(
    "extra",
    [
        {"SYNCTOOL_SCRUB_SECRET": 42},
        {"SYNCTOOL_SCRUB_SECRET": ""},
        {"SYNCTOOL_SCRUB_LOCALE": "xx_XX"},
        {"SYNCTOOL_SCRUB_STRICT": "yes"},
    ],
)
def test_E106_bad_scrub_settings(settings, extra):
    assert "synctool.E106" in scrub_ids(settings, RULES, **extra)


def test_E107_faker_missing(settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "faker", None)  # "import faker" raises ImportError
    assert scrub_ids(settings, RULES) == ["synctool.E107"]
    assert "synctool.E107" not in scrub_ids(settings, {"testapp.author": {"email": "hash"}})


def test_W101_and_E108_personal_fields_without_rules(settings):
    partial = {**RULES, "testapp.author": {"email": "email"}}
    assert scrub_ids(settings, partial) == ["synctool.W101"]
    messages = [m for m in checks.run_checks() if m.id == "synctool.W101"]
    assert {m.msg.split(" ")[0] for m in messages} == {
        "testapp.author.name",
        "testapp.author.phone",
    }
    assert scrub_ids(settings, partial, SYNCTOOL_SCRUB_STRICT=True) == ["synctool.E108"]
    with_keep = {**RULES, "testapp.author": {"email": "email", "name": "keep", "phone": "keep"}}
    assert scrub_ids(settings, with_keep, SYNCTOOL_SCRUB_STRICT=True) == []


# -- strict mode (the view's refusal) ------------------------------------------------


def test_strict_refuses_before_streaming(settings):
    from synctool.plugins import get_hooks

    def refusal(path, models):
        return get_hooks().refuse_route(path=path, models=models, request=None)

    settings.SYNCTOOL_SCRUB = {"testapp.author": {"email": "email"}}
    settings.SYNCTOOL_PLUGINS = [*settings.SYNCTOOL_PLUGINS, PLUGIN]
    models = [Author, Blog]
    assert refusal("blogs", models) is None  # strict mode is off
    settings.SYNCTOOL_SCRUB_STRICT = True
    message = refusal("blogs", models)
    assert "testapp.author.name" in message and "testapp.author.phone" in message
    assert "testapp.author.email" not in message
    settings.SYNCTOOL_SCRUB = RULES
    assert refusal("blogs", models) is None
    assert refusal("tags", [Tag]) is None


def test_strict_without_the_plugin_is_a_check_error(settings):
    from django.core import checks

    settings.SYNCTOOL_SCRUB_STRICT = True
    ids = [m.id for m in checks.run_checks() if m.id.startswith("synctool")]
    assert "synctool.E007" in ids
    settings.SYNCTOOL_PLUGINS = [*settings.SYNCTOOL_PLUGINS, PLUGIN]
    settings.SYNCTOOL_SCRUB = RULES
    ids = [m.id for m in checks.run_checks() if m.id.startswith("synctool")]
    assert "synctool.E007" not in ids


# -- the report command ----------------------------------------------------------


def test_report_lists_fields_rules_and_missing(settings, capsys):
    settings.SYNCTOOL_PLUGINS = [*settings.SYNCTOOL_PLUGINS, PLUGIN]
    settings.SYNCTOOL_SCRUB = {**RULES, "testapp.author": {"email": "email"}}
    call_command("synctool_scrub_report")
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    assert ["password", "CharField", "unusable_password", "a", "password", "hash"] in lines
    assert ["is_staff", "BooleanField", "-"] in lines
    assert any(line[:3] == ["phone", "CharField", "-"] and "RULE" in line for line in lines)
    assert "2 likely personal field(s) without a rule" in out
    with pytest.raises(CommandError, match="testapp.author.name, testapp.author.phone"):
        call_command("synctool_scrub_report", "--missing", "--fail-on-missing")
    settings.SYNCTOOL_SCRUB = RULES
    call_command("synctool_scrub_report", "--fail-on-missing")
    assert "every likely personal field has a rule" in capsys.readouterr().out


# -- end to end, over HTTP ----------------------------------------------------------

AUTHORS = 40
USERS = 15


def originals():
    """Distinctive personal values, so that finding one in a body means a leak."""
    authors = [
        {
            "email": f"zed.original{i}@realmail-{i}.test",
            "name": f"Zedekiah Ørigìnal{i}",
            "phone": f"+1 202 555 {1000 + i}",
        }
        for i in range(AUTHORS)
    ]
    users = [
        {
            "username": f"realuser{i}",
            "email": f"bart.quixote{i}@corp-{i}.test",
            "first_name": f"Bartholomew{i}",
            "last_name": f"Quixotè{i}",
        }
        for i in range(USERS)
    ]
    return authors, users


def fill_server():
    authors, users = originals()
    created = [Author.objects.using("server").create(**values) for values in authors]
    for index, author in enumerate(created):
        blog = Blog.objects.using("server").create(
            name=f"blog {index}", slug=f"blog-{index}", author=author
        )
        Post.objects.using("server").create(
            blog=blog,
            title=f"post {index}",
            body=f"Written by {author.name} <{author.email}>",
            created=datetime.datetime(2024, 3, 1, 12, 0, index, tzinfo=datetime.UTC),
        )
    for values in users:
        User.objects.db_manager("server").create_user(password="pw-" + values["username"], **values)
    Group.objects.using("server").create(name="editors")
    return authors, users


def raw_body(server, route, gzip=False) -> bytes:
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    response = requests.get(server.sync_url + route, auth=(TOKEN, ""), headers=headers, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return response.content  # requests decodes gzip: these are the JSON bytes


def leaked(body: bytes, values) -> list[str]:
    found = []
    for value in values:
        forms = {value.encode(), json.dumps(value).encode()[1:-1]}  # raw and \\u-escaped
        if any(form in body for form in forms):
            found.append(value)
    return found


@pytest.fixture(scope="module")
def scrubbing_server(django_db_setup, django_db_blocker, tmp_path_factory):
    server = start_server(
        tmp_path_factory.mktemp("scrub-server"),
        plugins=PLUGIN,
        extra_env={"SYNCTOOL_E2E_SCRUB": json.dumps(RULES)},
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def strict_server(django_db_setup, django_db_blocker, tmp_path_factory):
    partial = {**RULES, "testapp.author": {"email": "email", "name": "name"}}
    server = start_server(
        tmp_path_factory.mktemp("strict-server"),
        plugins=PLUGIN,
        workers=1,
        extra_env={"SYNCTOOL_E2E_SCRUB": json.dumps(partial), "SYNCTOOL_E2E_SCRUB_STRICT": "1"},
    )
    yield server
    stop_server(server)


@e2e
class TestServerSideScrubbing:
    def test_no_original_value_leaves_the_server(self, scrubbing_server):
        authors, users = fill_server()
        personal = [v for row in authors + users for v in row.values()]
        for route in ("blogs", "users", "testapp"):
            for gzip in (False, True):
                body = raw_body(scrubbing_server, route, gzip=gzip)
                assert body.startswith(b"[\n")
                assert leaked(body, personal) == [], route
        # The bodies do carry the authors and users (scrubbed).
        assert raw_body(scrubbing_server, "blogs").count(b'"model":"testapp.author"') == AUTHORS
        assert raw_body(scrubbing_server, "users").count(b'"model":"auth.user"') == USERS

    def test_two_fetches_are_byte_identical(self, scrubbing_server):
        fill_server()
        for route in ("blogs", "users"):
            assert raw_body(scrubbing_server, route) == raw_body(scrubbing_server, route)

    def test_sync_keeps_uniques_and_foreign_keys(self, scrubbing_server):
        authors, users = fill_server()
        client = _client(scrubbing_server)
        client.sync("blogs")
        client.sync("users")
        local_authors = list(Author.objects.using("default").order_by("pk"))
        server_authors = list(Author.objects.using("server").order_by("pk"))
        assert [a.pk for a in local_authors] == [a.pk for a in server_authors]
        emails = [a.email for a in local_authors]
        assert len(set(emails)) == AUTHORS
        assert not {a["email"] for a in authors} & set(emails)
        assert not {a["name"] for a in authors} & {a.name for a in local_authors}
        assert not {a["phone"] for a in authors} & {a.phone for a in local_authors}
        for author in local_authors:
            validate_email(author.email)
        # Foreign keys point at the same rows as on the server.
        server_links = dict(Blog.objects.using("server").values_list("slug", "author_id"))
        local_links = dict(Blog.objects.using("default").values_list("slug", "author_id"))
        assert local_links == server_links
        # The post body mentioned the author: replaced by words of the same length class.
        for post in Post.objects.using("default"):
            assert "Zedekiah" not in post.body and "@" not in post.body
        local_users = User.objects.using("default").all()
        assert local_users.count() == USERS
        assert not {u["username"] for u in users} & set(
            local_users.values_list("username", flat=True)
        )
        assert all(not is_password_usable(u.password) for u in local_users)
        assert Group.objects.using("default").filter(name="editors").exists()  # not scrubbed

    def test_scrubbed_usernames_still_identify_users_everywhere(self, scrubbing_server, settings):
        """Users travel by natural key: a scrubbed username is scrubbed alike in every reference."""
        from tests.identity import migrate_differently
        from tests.shop.models import Comment, Customer, Order
        from tests.test_identity import make_shop

        migrate_differently("default")
        User.objects.create_superuser("root")
        make_shop(customers=3, orders=2)
        _client(scrubbing_server).sync_many(["users", "orders"])
        settings.SYNCTOOL_SCRUB = RULES  # this process computes what the server sent
        scrub_username = get_scrubber().functions(User)["username"]
        server_names = set(User.objects.using("server").values_list("username", flat=True))
        assert not server_names & set(User.objects.values_list("username", flat=True))
        for customer in Customer.objects.using("server").select_related("user"):
            local = Customer.objects.get(pk=customer.pk)
            assert local.user.username == scrub_username(customer.user.username, None)
        for order in Order.objects.using("server").prefetch_related("watchers"):
            local = Order.objects.get(pk=order.pk)
            assert sorted(u.username for u in local.watchers.all()) == sorted(
                scrub_username(u.username, None) for u in order.watchers.all()
            )
        for comment in Comment.objects.using("server").filter(content_type__model="user"):
            target = Comment.objects.get(pk=comment.pk).content_object
            assert isinstance(target, User)
            assert target.username == scrub_username(comment.content_object.username, None)

    def test_two_syncs_give_identical_databases(self, scrubbing_server):
        fill_server()
        client = _client(scrubbing_server)
        client.sync("blogs")
        client.sync("users")
        first = database_digest("default")
        client.sync("blogs", clean=True)
        client.sync("users")
        assert database_digest("default") == first

    def test_date_shift_moves_the_whole_row_consistently(self, scrubbing_server):
        fill_server()
        _client(scrubbing_server).sync("blogs")
        for local in Post.objects.using("default"):
            original = Post.objects.using("server").get(pk=local.pk).created
            assert 1 <= abs((local.created - original).days) <= 10
            assert local.created.time() == original.time()


def _client(server):
    from synctool.client import Client

    return Client(api_url=server.sync_url, api_token=TOKEN)


@e2e
def test_client_side_scrubbing_matches_server_side(scrubbing_server, live_server_process, settings):
    fill_server()
    scrubbed_by_server = json.loads(raw_body(scrubbing_server, "blogs"))
    settings.SYNCTOOL_PLUGINS = [*settings.SYNCTOOL_PLUGINS, PLUGIN]
    settings.SYNCTOOL_SCRUB = RULES
    # The plain server sends originals; this process scrubs them before saving.
    assert b"zed.original0@" in raw_body(live_server_process, "blogs")
    _client(live_server_process).sync("blogs")
    expected = {
        obj["pk"]: obj["fields"] for obj in scrubbed_by_server if obj["model"] == "testapp.author"
    }
    local = {
        a.pk: {"email": a.email, "name": a.name, "phone": a.phone} for a in Author.objects.all()
    }
    assert local == expected  # the same key (SECRET_KEY) gives the same values on both sides


@e2e
def test_strict_server_refuses_naming_the_field(strict_server):
    fill_server()
    response = requests.get(strict_server.sync_url + "blogs", auth=(TOKEN, ""), timeout=30)
    assert response.status_code == 403
    assert "testapp.author.phone" in response.text
    assert "zed.original" not in response.text
    with pytest.raises(SynctoolError, match=r"testapp\.author\.phone"):
        _client(strict_server).sync("blogs")
    assert not Author.objects.using("default").exists()
    # A route without unscrubbed personal fields is served.
    assert requests.get(strict_server.sync_url + "sites", auth=(TOKEN, ""), timeout=30).ok
