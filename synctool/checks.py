"""System checks (``manage.py check``), ids ``synctool.E001`` ... and ``W001``.

E001  (check --deploy) a route is served but no API token is configured
E002  SYNCTOOL_API_TOKEN is not a string, a list of strings or a dict of token: routes
E003  SYNCTOOL_ROUTES is malformed (not a dict, unknown keys, ...)
E004  a route names an app or model that is not installed
E005  a queryset route's dotted path does not import or is not callable
E006  a plugin does not import
E008  SYNCTOOL_NATURAL_KEYS is not a list of installed models with natural keys
E009  a SYNCTOOL_* setting is set that neither synctool nor an enabled plugin reads
E010  a route's follow path names no reverse relation (synctool.server.checks)
W001  an API token is shorter than 20 characters
W002  a queryset route sets natural_keys=True, which has no effect
W003  a route is served but no API token is configured (every request is refused;
      not with DEBUG on)
W004  a token's list of routes names a path that no route has

A registered plugin's ``system_checks`` hook runs with these, so a plugin's
checks run exactly when it is enabled (the ids of the scrub plugin are
listed in its own checks module).
"""

import difflib

from django.apps import apps
from django.conf import settings as django_settings
from django.core.checks import Error, Tags, Warning, register

from synctool.conf import settings
from synctool.server import checks as route_checks  # noqa: F401 - registers E003-E005, W002
from synctool.server.routing import load_urlconf

MIN_TOKEN_LENGTH = 20


def _token_value_ok(value) -> bool:
    if value is None or isinstance(value, str):
        return True
    if isinstance(value, dict):
        return all(
            isinstance(token, str)
            and (
                routes == "*"
                or (isinstance(routes, list | tuple) and all(isinstance(r, str) for r in routes))
            )
            for token, routes in value.items()
        )
    return isinstance(value, list | tuple) and all(isinstance(t, str) for t in value)


def _is_a_client() -> bool:
    """Whether this process is set up to pull from a server (a laptop): its
    ``SYNCTOOL_CLIENT_ENDPOINT`` is set."""
    return bool(getattr(django_settings, "SYNCTOOL_CLIENT_ENDPOINT", None))


def _unprotected_routes() -> bool:
    """Whether routes are served while no token is configured for them."""
    from synctool.server.auth import configured_tokens
    from synctool.server.routing import all_routes

    load_urlconf()
    routes = [route for route in all_routes() if route.entries]
    unprotected = [route for route in routes if not configured_tokens(route.api_token)]
    return bool(unprotected or (settings.SYNCTOOL_ROUTES and not configured_tokens()))


def serves_routes() -> bool:
    """Whether this project serves routes that a token opens: a server, not a
    laptop running the same code and settings without the token."""
    from synctool.server.auth import configured_tokens
    from synctool.server.routing import all_routes

    load_urlconf()
    if any(route.entries and configured_tokens(route.api_token) for route in all_routes()):
        return True
    return bool(settings.SYNCTOOL_ROUTES and configured_tokens())


UNPROTECTED_MESSAGE = (
    "synctool routes are served but no API token is configured: every request will be refused."
)
UNPROTECTED_HINT = (
    "Set SYNCTOOL_API_TOKEN (a long random string, or a list of them to rotate) or pass "
    "Route(api_token=...). A laptop running the same code without a token is fine: it "
    "serves nothing."
)


@register(Tags.security)
def check_tokens(app_configs=None, **kwargs):
    from synctool.server.auth import configured_tokens
    from synctool.server.routing import all_routes

    errors = []
    value = settings.SYNCTOOL_API_TOKEN
    if not _token_value_ok(value):
        errors.append(
            Error(
                "SYNCTOOL_API_TOKEN should be a string, a list of strings, or a dict of "
                "{token: '*' or a list of route paths}.",
                hint="Set it from an environment variable, e.g. "
                "os.environ.get('SYNCTOOL_API_TOKEN').",
                id="synctool.E002",
            )
        )
        return errors
    if not django_settings.DEBUG and not _is_a_client() and _unprotected_routes():
        # A warning, not an error: every laptop running production's code
        # without its token must still run migrate, runserver and sync_data.
        # Not even a warning with DEBUG on (a laptop's settings), or where a
        # client endpoint is set (a laptop sharing production's settings): it
        # would show on every command there. `check --deploy` makes it an
        # error (synctool.E001) either way.
        errors.append(Warning(UNPROTECTED_MESSAGE, hint=UNPROTECTED_HINT, id="synctool.W003"))
    tokens = set(configured_tokens())
    for route in all_routes():
        if route.entries:
            tokens.update(configured_tokens(route.api_token))
    errors.extend(_unknown_token_routes())
    if any(len(token) < MIN_TOKEN_LENGTH for token in tokens):
        errors.append(
            Warning(
                f"a synctool API token is shorter than {MIN_TOKEN_LENGTH} characters.",
                hint="Use e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
                id="synctool.W001",
            )
        )
    return errors


def _unknown_token_routes() -> list[Warning]:
    """W004: a token allowed a route path that no route has (a token's routes
    are matched by their path as written, not as a pattern)."""
    from synctool.server.auth import token_routes
    from synctool.server.routing import all_routes

    load_urlconf()
    routes = all_routes()
    known = {entry.path for route in routes for entry in route.entries}
    if isinstance(settings.SYNCTOOL_ROUTES, dict):
        known.update(str(path) for path in settings.SYNCTOOL_ROUTES)
    named: dict[str, str] = {}
    for source, value in [("SYNCTOOL_API_TOKEN", None)] + [
        ("Route(api_token=...)", route.api_token) for route in routes if route.api_token
    ]:
        for paths in token_routes(value).values():
            for path in paths or ():
                if path not in known:
                    named.setdefault(path, source)
    shown = ", ".join(repr(path) for path in sorted(known)) or "none"
    return [
        Warning(
            f"{source} lets a token pull the route {path!r}, but no route has that path.",
            hint="A token's routes are route paths exactly as written (the key in "
            "SYNCTOOL_ROUTES, the path given to Route), not patterns matched against "
            f"URLs. The routes are: {shown}.",
            id="synctool.W004",
        )
        for path, source in sorted(named.items())
    ]


@register(Tags.security, deploy=True)
def check_tokens_deploy(app_configs=None, **kwargs):
    """Under ``check --deploy``: serving routes without a token is an error."""
    if _token_value_ok(settings.SYNCTOOL_API_TOKEN) and _unprotected_routes():
        return [Error(UNPROTECTED_MESSAGE, hint=UNPROTECTED_HINT, id="synctool.E001")]
    return []


@register()
def check_natural_keys(app_configs=None, **kwargs):
    from synctool.identity import configured_labels, has_natural_key

    value = settings.SYNCTOOL_NATURAL_KEYS
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        return [
            Error(
                "SYNCTOOL_NATURAL_KEYS should be a list of model labels.",
                hint="e.g. SYNCTOOL_NATURAL_KEYS = ['auth.User', 'auth.Group'].",
                id="synctool.E008",
            )
        ]
    errors = []
    for label in configured_labels():
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            errors.append(
                Error(
                    f"SYNCTOOL_NATURAL_KEYS names {label!r}, which is not an installed model.",
                    hint="Use 'app_label.ModelName', e.g. 'auth.User'.",
                    id="synctool.E008",
                )
            )
            continue
        if not has_natural_key(model):
            errors.append(
                Error(
                    f"SYNCTOOL_NATURAL_KEYS names {model._meta.label}, which has no natural key.",
                    hint="Give the model a natural_key() method and its default manager a "
                    "get_by_natural_key() method (see Django's serialization docs).",
                    id="synctool.E008",
                )
            )
    return errors


@register()
def check_plugins(app_configs=None, **kwargs):
    from synctool.plugins import build_plugin_manager

    try:
        manager = build_plugin_manager()
    except Exception as exc:
        return [
            Error(
                str(exc),
                hint="Fix or remove it from SYNCTOOL_PLUGINS, or uninstall the distribution "
                "providing the 'synctool' entry point.",
                id="synctool.E006",
            )
        ]
    errors = []
    # Plugins bring their own checks through the system_checks hook: they run
    # exactly when the plugin is enabled (a misspelt hook is refused above).
    for messages in manager.hook.system_checks(app_configs=app_configs):
        errors.extend(messages or ())
    errors.extend(_unknown_settings())
    return errors


def _unknown_settings() -> list:
    """E009: a SYNCTOOL_* setting nothing reads (a typo, or its plugin is not enabled)."""
    from django.conf import settings as django_settings

    from synctool.conf import known_settings

    known = known_settings()
    errors = []
    for name in sorted(dir(django_settings)):
        if name.startswith("SYNCTOOL_") and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"Did you mean {close[0]}? " if close else ""
            errors.append(
                Error(
                    f"{name} is set, but neither synctool nor an enabled plugin reads it: "
                    "it has no effect.",
                    hint=hint + "If a plugin reads it, add the plugin to SYNCTOOL_PLUGINS "
                    "(and its app to INSTALLED_APPS where its documentation says so).",
                    id="synctool.E009",
                )
            )
    return errors
