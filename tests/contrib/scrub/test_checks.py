"""synctool_contrib.scrub: the system checks, strict mode, the report command."""

import sys

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError

from synctool.plugins import get_hooks
from tests.contrib.scrub.helpers import (
    PLUGIN,
    RULES,
)  # fmt: skip
from tests.testapp.models import Author, Blog, Tag

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
        ({"auth.user": {"email": "tests.contrib.scrub.test_strategies.nothing"}}, "synctool.E104"),
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


def test_a_laptop_sharing_the_servers_scrub_settings_is_not_an_error(settings, monkeypatch):
    """Without the server's token this project serves nothing, so rules set
    without the plugin (which runs on the server) cannot let data out."""
    from django.core import checks

    from tests import urls

    settings.SYNCTOOL_SCRUB = RULES
    settings.SYNCTOOL_API_TOKEN = None
    monkeypatch.setattr(urls.rotated, "api_token", None)  # the one route with its own
    ids = [m.id for m in checks.run_checks() if m.id.startswith("synctool")]
    assert "synctool.E007" not in ids
    assert "synctool.W003" in ids  # routes served without a token, as ever
    settings.SYNCTOOL_API_TOKEN = "a-server-token-0123456789"
    ids = [m.id for m in checks.run_checks() if m.id.startswith("synctool")]
    assert "synctool.E007" in ids


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
