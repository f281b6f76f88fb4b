"""synctool_contrib.scrub: the strategies, one by one."""

import datetime
import ipaddress

import pytest
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.validators import validate_email

from synctool.exceptions import ConfigurationError
from synctool_contrib.scrub import fakedata
from synctool_contrib.scrub.fields import FieldInfo
from synctool_contrib.scrub.keys import derive_key
from synctool_contrib.scrub.rules import Context, get_scrubber
from synctool_contrib.scrub.strategies import STRATEGIES
from tests.contrib.scrub.helpers import (
    build,
    scrub,
)  # fmt: skip

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
    settings.SYNCTOOL_SCRUB = {"testapp.tag": {"name": "tests.contrib.scrub.test_strategies.shout"}}
    assert scrub("testapp.tag", {"name": "red"}, pk=4) == {"name": "RED:4:name"}


@pytest.mark.parametrize(
    "rule",
    [
        "wat",
        {"const": 1, "x": 2},
        "const",
        {"email": True},
        {"date_shift": -3},
        "tests.contrib.scrub.test_strategies.no_such_function",
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
