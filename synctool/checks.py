"""System checks (``manage.py check``), ids ``synctool.E001`` ... and ``W001``.

E001  a route is served but no API token is configured
E002  SYNCTOOL_API_TOKEN is not a string or a list of strings
E003  SYNCTOOL_ROUTES is malformed (not a dict, unknown keys, ...)
E004  a route names an app or model that is not installed
E005  a queryset route's dotted path does not import or is not callable
E006  a plugin does not import
E007  SYNCTOOL_SCRUB or SYNCTOOL_SCRUB_STRICT is set but the scrub plugin is not enabled
W001  an API token is shorter than 20 characters

A registered plugin's own ``synctool_checks(app_configs, **kwargs)`` function
runs with these, so a plugin's checks run exactly when it is enabled (the scrub
plugin lists its ids in synctool_contrib/scrub/checks.py).
"""

import contextlib

from django.apps import apps
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from synctool.conf import settings
from synctool.exceptions import ConfigurationError

MIN_TOKEN_LENGTH = 20


def _load_urlconf() -> None:
    """Import the URLconf so that Route objects defined in views exist."""
    from django.urls import get_resolver

    # Django's own URL checks report a URLconf that fails to import.
    with contextlib.suppress(Exception):
        get_resolver().url_patterns  # noqa: B018 - evaluated for its import side effect


def _token_value_ok(value) -> bool:
    if value is None or isinstance(value, str):
        return True
    return isinstance(value, list | tuple) and all(isinstance(t, str) for t in value)


@register(Tags.security)
def check_tokens(app_configs=None, **kwargs):
    from synctool.auth import configured_tokens
    from synctool.routing import all_routes

    errors = []
    value = settings.SYNCTOOL_API_TOKEN
    if not _token_value_ok(value):
        errors.append(
            Error(
                "SYNCTOOL_API_TOKEN should be a string or a list of strings.",
                hint="Set it from an environment variable, e.g. os.environ['SYNCTOOL_API_TOKEN'].",
                id="synctool.E002",
            )
        )
        return errors
    _load_urlconf()
    routes = [route for route in all_routes() if route.entries]
    unprotected = [route for route in routes if not configured_tokens(route.api_token)]
    if unprotected or (settings.SYNCTOOL_ROUTES and not configured_tokens()):
        errors.append(
            Error(
                "synctool routes are served but no API token is configured: "
                "every request will be refused.",
                hint="Set SYNCTOOL_API_TOKEN (a long random string, or a list of them "
                "to rotate) or pass Route(api_token=...).",
                id="synctool.E001",
            )
        )
    tokens = set(configured_tokens())
    for route in routes:
        tokens.update(configured_tokens(route.api_token))
    if any(len(token) < MIN_TOKEN_LENGTH for token in tokens):
        errors.append(
            Warning(
                f"a synctool API token is shorter than {MIN_TOKEN_LENGTH} characters.",
                hint="Use e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
                id="synctool.W001",
            )
        )
    return errors


def _check_labels(path: str, kind: str, value) -> list:
    errors = []
    if kind == "app":
        try:
            apps.get_app_config(value)
        except LookupError:
            errors.append(
                Error(
                    f"route {path!r} serves app {value!r}, which is not installed.",
                    hint="Use an app label from INSTALLED_APPS (e.g. 'auth', not "
                    "'django.contrib.auth').",
                    id="synctool.E004",
                )
            )
    elif kind == "models":
        for label in value:
            try:
                apps.get_model(label)
            except (LookupError, ValueError):
                errors.append(
                    Error(
                        f"route {path!r} serves model {label!r}, which is not installed.",
                        hint="Use 'app_label.ModelName', e.g. 'blog.Post'.",
                        id="synctool.E004",
                    )
                )
    else:
        try:
            function = import_string(value)
        except ImportError as exc:
            return [
                Error(
                    f"route {path!r}: queryset function {value!r} does not import: {exc}",
                    hint="Use the dotted path of a function returning querysets.",
                    id="synctool.E005",
                )
            ]
        if not callable(function):
            errors.append(
                Error(
                    f"route {path!r}: {value!r} is not callable.",
                    hint="Use the dotted path of a function returning querysets.",
                    id="synctool.E005",
                )
            )
    return errors


@register()
def check_routes(app_configs=None, **kwargs):
    from synctool.routing import all_routes
    from synctool.settings_routes import iter_route_specs, parse_route_spec

    errors = []
    try:
        specs = list(iter_route_specs())
    except ConfigurationError as exc:
        return [Error(str(exc), hint="See docs/routes.rst.", id="synctool.E003")]
    for path, spec in specs:
        try:
            kind, value, _ = parse_route_spec(path, spec)
        except ConfigurationError as exc:
            errors.append(
                Error(f"SYNCTOOL_ROUTES: {exc}.", hint="See docs/routes.rst.", id="synctool.E003")
            )
            continue
        errors.extend(_check_labels(path, kind, value))
    _load_urlconf()
    for route in all_routes():
        for entry in route.entries:
            if entry.kind == "app":
                errors.extend(_check_labels(entry.path, "app", entry.label))
            elif entry.kind == "models":
                errors.extend(_check_labels(entry.path, "models", entry.model_labels))
    # The same Route can be reached twice (settings and URLconf): report once.
    unique = []
    for error in errors:
        if error not in unique:
            unique.append(error)
    return unique


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
    scrub_plugin = "synctool_contrib.scrub"
    errors = []
    scrub_configured = settings.SYNCTOOL_SCRUB or settings.SYNCTOOL_SCRUB_STRICT
    if scrub_configured and manager.get_plugin(scrub_plugin) is None:
        errors.append(
            Error(
                "SYNCTOOL_SCRUB or SYNCTOOL_SCRUB_STRICT is set, but the scrub plugin is "
                "not enabled: nothing would be scrubbed or refused.",
                hint=f"Add {scrub_plugin!r} to SYNCTOOL_PLUGINS.",
                id="synctool.E007",
            )
        )
    # A plugin module may bring its own checks as a ``synctool_checks``
    # function: they run only when the plugin is enabled.
    for plugin in manager.get_plugins():
        plugin_checks = getattr(plugin, "synctool_checks", None)
        if callable(plugin_checks):
            errors.extend(plugin_checks(app_configs=app_configs, **kwargs))
    return errors
