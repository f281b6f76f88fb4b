"""System checks: each id under the settings that trigger it."""

import pytest
from django.core import checks
from django.test import override_settings

from synctool.server.routing import Route

# Model checks (JSONField support) query the database features on Django 6.
pytestmark = pytest.mark.django_db(databases=["default", "server"])


def ids(tags=None, deploy=False) -> list[str]:
    return sorted(
        {
            message.id
            for message in checks.run_checks(tags=tags, include_deployment_checks=deploy)
            if message.id.startswith("synctool")
        }
    )


def test_test_settings_are_clean():
    assert ids() == []


@pytest.mark.parametrize("value", [None, "", []])
def test_routes_without_token_warn_and_fail_only_the_deploy_check(value):
    with override_settings(SYNCTOOL_API_TOKEN=value):
        # A laptop with production's code and no token: a warning, commands run.
        assert "synctool.W003" in ids() and "synctool.E001" not in ids()
        assert "synctool.E001" in ids(deploy=True)


def test_a_laptop_with_debug_on_is_not_warned_on_every_command():
    with override_settings(SYNCTOOL_API_TOKEN=None, DEBUG=True):
        assert "synctool.W003" not in ids()
        assert "synctool.E001" in ids(deploy=True)


def test_a_laptop_sharing_production_settings_is_not_warned_on_every_command():
    """Its client endpoint set (from its environment), it pulls; it serves nothing."""
    endpoint = "https://production.example/sync/"
    with override_settings(SYNCTOOL_API_TOKEN=None, SYNCTOOL_CLIENT_ENDPOINT=endpoint):
        assert "synctool.W003" not in ids()
        assert "synctool.E001" in ids(deploy=True)


def test_E001_route_object_without_token():
    route = Route()
    route.app("x", "sites")
    with override_settings(SYNCTOOL_API_TOKEN=None, SYNCTOOL_ROUTES={}):
        messages = [
            m for m in checks.run_checks(include_deployment_checks=True) if m.id == "synctool.E001"
        ]
    assert messages and messages[0].hint
    del route


def test_E001_for_a_urlconf_route_relying_on_the_settings_token():
    with override_settings(SYNCTOOL_ROUTES={}, SYNCTOOL_API_TOKEN=None, ROOT_URLCONF="tests.urls"):
        import gc

        gc.collect()  # forget Route objects of other tests
        errors = [
            m.id
            for m in checks.run_checks(include_deployment_checks=True)
            if m.id == "synctool.E001"
        ]
    # tests.urls has a Route relying on the settings token: still an error.
    assert errors == ["synctool.E001"]


@pytest.mark.parametrize("value", [42, ["ok-0123456789abcdefghij", 3], {"a": "b"}])
def test_E002_bad_token_type(value):
    with override_settings(SYNCTOOL_API_TOKEN=value):
        assert "synctool.E002" in ids()


@pytest.mark.parametrize(
    "routes",
    [
        ["not", "a", "dict"],
        {"x": 42},
        {"x": {"app": "sites", "colour": "red"}},
        {"x": {"app": "sites", "models": ["sites.Site"]}},
        {"x": {}},
        {"x": {"models": []}},
        {"x": {"app": "sites", "natural_keys": "yes"}},
        {"": "sites"},
    ],
)
def test_E003_malformed_routes(routes):
    with override_settings(SYNCTOOL_ROUTES=routes):
        assert "synctool.E003" in ids()


@pytest.mark.parametrize(
    "routes",
    [
        {"x": "django.contrib.sites"},
        {"x": {"app": "nosuchapp"}},
        {"x": {"models": ["sites.Site", "sites.Nope"]}},
        {"x": {"models": ["nolabel"]}},
    ],
)
def test_E004_unknown_labels(routes):
    with override_settings(SYNCTOOL_ROUTES=routes):
        assert ids() == ["synctool.E004"]


def test_E004_route_object_with_unknown_model():
    route = Route(api_token="a-long-enough-token-0123456789")
    route.models("x", "testapp.Nope")
    assert "synctool.E004" in ids()
    del route


def test_E010_a_follow_path_with_no_reverse_relation():
    route = Route(api_token="a-long-enough-token-0123456789")
    route.models("x", "shop.Customer", follow=["orders__nope"])
    found = [m for m in checks.run_checks() if m.id == "synctool.E010"]
    assert len(found) == 1
    assert "shop.Order has no reverse relation 'nope'" in found[0].msg
    assert "items" in found[0].msg  # what it does have
    route.entries.clear()
    route.models("x", "shop.Customer", follow=["orders__items"])
    assert "synctool.E010" not in ids()
    del route


def test_W004_a_token_route_that_names_no_route():
    token = "a-long-enough-token-0123456789"
    with override_settings(SYNCTOOL_API_TOKEN={token: [r"^blog/$", "blogs"], "other" * 5: "*"}):
        found = [m for m in checks.run_checks() if m.id == "synctool.W004"]
    assert [m.msg for m in found] == [
        "SYNCTOOL_API_TOKEN lets a token pull the route '^blog/$', but no route has that path."
    ]
    assert "'blogs'" in found[0].hint  # the routes there are
    route = Route(api_token={token: ["x", "y"]})
    route.models("x", "testapp.Post")
    found = [m for m in checks.run_checks() if m.id == "synctool.W004"]
    assert [m.msg for m in found] == [
        "Route(api_token=...) lets a token pull the route 'y', but no route has that path."
    ]
    route.entries.clear()
    del route


@pytest.mark.parametrize(
    "path", ["tests.routes.nope", "no.such.module.func", "tests.settings.SITE_ID"]
)
def test_E005_queryset_paths(path):
    with override_settings(SYNCTOOL_ROUTES={"x": {"queryset": path}}):
        assert ids() == ["synctool.E005"]


def test_E006_plugin_that_does_not_import():
    with override_settings(SYNCTOOL_PLUGINS=["tests.no_such_plugin"]):
        messages = [m for m in checks.run_checks() if m.id == "synctool.E006"]
    assert len(messages) == 1
    assert "tests.no_such_plugin" in messages[0].msg


def test_W001_short_token():
    with override_settings(SYNCTOOL_API_TOKEN="short"):
        assert ids() == ["synctool.W001"]
