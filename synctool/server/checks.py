"""System checks of the routes (registered by :mod:`synctool.checks`).

E003  SYNCTOOL_ROUTES is malformed (not a dict, unknown keys, ...)
E004  a route names an app or model that is not installed
E005  a route's queryset function does not import or is not callable
W002  a queryset route sets natural_keys=True, which has no effect
"""

from django.apps import apps
from django.core.checks import Error, Warning, register
from django.utils.module_loading import import_string

from synctool.exceptions import ConfigurationError
from synctool.server.routing import load_urlconf


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


def _check_follow(entry) -> list:
    """A ``follow`` path of a models route that names no reverse relation."""
    from synctool.server.subsets import resolve_follow

    try:
        resolve_follow([model._meta.concrete_model for model in entry.models()], entry.follow)
    except ConfigurationError as exc:
        return [
            Error(
                f"route {entry.path!r}: {exc}.",
                hint="Name reverse relations by their accessor (related_name), "
                "e.g. follow=['orders', 'orders__items'].",
                id="synctool.E010",
            )
        ]
    return []


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
            found = _check_entry(entry.path, entry.kind, value, entry.exclude)
            errors.extend(found)
            if entry.kind == "models" and entry.follow and not found:
                errors.extend(_check_follow(entry))
            if entry.kind == "queryset" and entry.natural_keys:
                errors.append(_natural_key_warning(entry.path))
    # The same Route can be reached twice (settings and URLconf): report once.
    unique = []
    for error in errors:
        if error not in unique:
            unique.append(error)
    return unique
