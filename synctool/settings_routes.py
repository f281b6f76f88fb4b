"""Parse ``SYNCTOOL_ROUTES`` into a :class:`~synctool.routing.Route`.

Accepted forms, per URL regex::

    "sites": "sites",                                   # an app label
    "blogs": {"models": ["blog.Blog", "blog.Post"]},
    "blog/(?P<slug>[^/]+)": {"queryset": "myproject.sync.blog"},
    "users": {"app": "auth", "natural_keys": True},
"""

from django.utils.module_loading import import_string

from synctool.conf import settings
from synctool.exceptions import ConfigurationError
from synctool.routing import Route

KINDS = ("app", "models", "queryset")
ALLOWED_KEYS = {*KINDS, "natural_keys"}


def parse_route_spec(path, spec) -> tuple[str, object, bool]:
    """Return ``(kind, argument, natural_keys)`` for one entry, or raise ConfigurationError."""
    if not isinstance(path, str) or not path:
        raise ConfigurationError(f"route path {path!r} must be a non-empty string")
    if isinstance(spec, str):
        return "app", spec, False
    if not isinstance(spec, dict):
        raise ConfigurationError(
            f"route {path!r} must be an app label or a dict, not {type(spec).__name__}"
        )
    unknown = sorted(set(spec) - ALLOWED_KEYS)
    if unknown:
        raise ConfigurationError(
            f"route {path!r} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(ALLOWED_KEYS))}"
        )
    kinds = [kind for kind in KINDS if kind in spec]
    if len(kinds) != 1:
        raise ConfigurationError(
            f"route {path!r} needs exactly one of 'app', 'models' or 'queryset'"
        )
    kind = kinds[0]
    natural_keys = spec.get("natural_keys", False)
    if not isinstance(natural_keys, bool):
        raise ConfigurationError(f"route {path!r}: 'natural_keys' must be True or False")
    value = spec[kind]
    if kind == "models":
        if isinstance(value, str):
            value = [value]
        if (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(label, str) for label in value)
        ):
            raise ConfigurationError(f"route {path!r}: 'models' must be a list of model labels")
        value = tuple(value)
    elif not isinstance(value, str) or not value:
        raise ConfigurationError(f"route {path!r}: {kind!r} must be a non-empty string")
    return kind, value, natural_keys


def iter_route_specs():
    """Yield ``(path, spec)`` pairs of SYNCTOOL_ROUTES (an empty dict if unset)."""
    routes = settings.SYNCTOOL_ROUTES or {}
    if not isinstance(routes, dict):
        raise ConfigurationError("SYNCTOOL_ROUTES must be a dict of {url regex: spec}")
    yield from routes.items()


def add_route(route: Route, path: str, kind: str, value, natural_keys: bool) -> None:
    if kind == "app":
        route.app(path, value, natural_keys=natural_keys)
    elif kind == "models":
        route.models(path, *value, natural_keys=natural_keys)
    else:
        route.queryset(path, natural_keys=natural_keys)(import_string(value))


def route_from_settings() -> Route:
    """A Route serving every valid entry of SYNCTOOL_ROUTES (checks report the rest)."""
    route = Route()
    try:
        specs = list(iter_route_specs())
    except ConfigurationError:
        return route
    for path, spec in specs:
        try:
            add_route(route, path, *parse_route_spec(path, spec))
        except (ConfigurationError, ImportError):
            continue
    return route
