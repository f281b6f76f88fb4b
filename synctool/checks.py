"""System checks (``manage.py check``), ids ``synctool.E001`` ... and ``W001``.

E001  (check --deploy) a route is served but no API token is configured
E002  SYNCTOOL_API_TOKEN is not a string or a list of strings
E003  SYNCTOOL_ROUTES is malformed (not a dict, unknown keys, ...)
E004  a route names an app or model that is not installed
E005  a queryset route's dotted path does not import or is not callable
E006  a plugin does not import
E007  SYNCTOOL_SCRUB or SYNCTOOL_SCRUB_STRICT is set but the scrub plugin is not enabled
E008  SYNCTOOL_NATURAL_KEYS is not a list of installed models with natural keys
W001  an API token is shorter than 20 characters
W002  a queryset route sets natural_keys=True, which has no effect
W003  a route is served but no API token is configured (every request is refused)

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


def load_urlconf() -> None:
    """Import the URLconf so that Route objects defined in views exist."""
    from django.urls import get_resolver

    # Django's own URL checks report a URLconf that fails to import.
    with contextlib.suppress(Exception):
        get_resolver().url_patterns  # noqa: B018 - evaluated for its import side effect


def _token_value_ok(value) -> bool:
    if value is None or isinstance(value, str):
        return True
    return isinstance(value, list | tuple) and all(isinstance(t, str) for t in value)


def _unprotected_routes() -> bool:
    """Whether routes are served while no token is configured for them."""
    from synctool.server.auth import configured_tokens
    from synctool.server.routing import all_routes

    load_urlconf()
    routes = [route for route in all_routes() if route.entries]
    unprotected = [route for route in routes if not configured_tokens(route.api_token)]
    return bool(unprotected or (settings.SYNCTOOL_ROUTES and not configured_tokens()))


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
                "SYNCTOOL_API_TOKEN should be a string or a list of strings.",
                hint="Set it from an environment variable, e.g. "
                "os.environ.get('SYNCTOOL_API_TOKEN').",
                id="synctool.E002",
            )
        )
        return errors
    if _unprotected_routes():
        # A warning, not an error: every laptop running production's code
        # without its token must still run migrate, runserver and sync_data.
        # `check --deploy` makes it an error (synctool.E001).
        errors.append(Warning(UNPROTECTED_MESSAGE, hint=UNPROTECTED_HINT, id="synctool.W003"))
    tokens = set(configured_tokens())
    for route in all_routes():
        if route.entries:
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


@register(Tags.security, deploy=True)
def check_tokens_deploy(app_configs=None, **kwargs):
    """Under ``check --deploy``: serving routes without a token is an error."""
    if _token_value_ok(settings.SYNCTOOL_API_TOKEN) and _unprotected_routes():
        return [Error(UNPROTECTED_MESSAGE, hint=UNPROTECTED_HINT, id="synctool.E001")]
    return []


def _app_error(path: str, value: str) -> Error:
    return Error(
        f"route {path!r} serves app {value!r}, which is not installed.",
        hint="Use an app label from INSTALLED_APPS (e.g. 'auth', not 'django.contrib.auth').",
        id="synctool.E004",
    )


def _model_error(path: str, label: str, what: str = "serves model") -> Error:
    return Error(
        f"route {path!r} {what} {label!r}, which is not installed.",
        hint="Use 'app_label.ModelName', e.g. 'blog.Post'.",
        id="synctool.E004",
    )


def _check_app(path: str, label: str) -> list:
    try:
        apps.get_app_config(label)
    except LookupError:
        return [_app_error(path, label)]
    return []


def _check_model(path: str, label: str, what: str = "serves model") -> list:
    try:
        apps.get_model(label)
    except (LookupError, ValueError):
        return [_model_error(path, label, what)]
    return []


def _check_exclude(path: str, labels) -> list:
    errors = []
    for label in labels:
        if "." in label:
            errors.extend(_check_model(path, label, what="excludes model"))
        elif label not in {config.label for config in apps.get_app_configs()}:
            errors.append(
                Error(
                    f"route {path!r} excludes {label!r}, which is neither an installed app "
                    "nor a model.",
                    hint="Use an app label ('sessions') or a model label ('blog.Draft').",
                    id="synctool.E004",
                )
            )
    return errors


def _check_function(path: str, value: str) -> list:
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
        return [
            Error(
                f"route {path!r}: {value!r} is not callable.",
                hint="Use the dotted path of a function returning querysets.",
                id="synctool.E005",
            )
        ]
    return []


def _check_entry(path: str, kind: str, value, exclude=()) -> list:
    """Errors of one route, from settings (``value`` as parsed) or a RouteEntry."""
    if kind == "app":
        errors = _check_app(path, value)
    elif kind == "apps":
        errors = [error for label in value for error in _check_app(path, label)]
    elif kind == "models":
        errors = [error for label in value for error in _check_model(path, label)]
    elif kind == "queryset":
        errors = _check_function(path, value) if isinstance(value, str) else []
    else:
        errors = []
    return errors + _check_exclude(path, exclude)


def _natural_key_warning(path: str) -> Warning:
    return Warning(
        f"route {path!r} is a queryset route with natural_keys=True, which has no effect: "
        "which models travel by natural key is decided for the whole project.",
        hint="List the models in SYNCTOOL_NATURAL_KEYS (e.g. ['auth.User', 'auth.Group']).",
        id="synctool.W002",
    )


@register()
def check_routes(app_configs=None, **kwargs):
    from synctool.server.routing import all_routes
    from synctool.server.settings_routes import iter_route_specs, parse_route_spec

    errors = []
    try:
        specs = list(iter_route_specs())
    except ConfigurationError as exc:
        return [Error(str(exc), hint="See docs/routes.rst.", id="synctool.E003")]
    for path, raw in specs:
        try:
            spec = parse_route_spec(path, raw)
        except ConfigurationError as exc:
            errors.append(
                Error(f"SYNCTOOL_ROUTES: {exc}.", hint="See docs/routes.rst.", id="synctool.E003")
            )
            continue
        errors.extend(_check_entry(path, spec.kind, spec.value, spec.exclude))
    load_urlconf()
    for route in all_routes():
        for entry in route.entries:
            value = {
                "app": entry.label,
                "apps": entry.app_labels,
                "models": entry.model_labels,
            }.get(entry.kind)
            errors.extend(_check_entry(entry.path, entry.kind, value, entry.exclude))
            if entry.kind == "queryset" and entry.natural_keys:
                errors.append(_natural_key_warning(entry.path))
    # The same Route can be reached twice (settings and URLconf): report once.
    unique = []
    for error in errors:
        if error not in unique:
            unique.append(error)
    return unique


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
