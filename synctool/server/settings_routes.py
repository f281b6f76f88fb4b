"""Parse ``SYNCTOOL_ROUTES`` into a :class:`~synctool.server.routing.Route`.

Accepted forms, per URL regex::

    "sites": "sites",                                   # an app label
    "users": {"app": "auth"},
    "content": {"apps": ["pages", "blog"], "exclude": ["blog.Draft"]},
    "blogs": {"models": ["blog.Blog", "blog.Post"]},
    "blog/(?P<slug>[^/]+)": {"queryset": "myproject.sync.blog"},
    "everything": {"project": True, "exclude": ["analytics"]},

``natural_keys`` (app, apps and models routes) identifies the route's models
by natural key in every route; ``exclude`` (app, apps and project routes)
leaves models or apps out; ``parents`` (models and queryset routes, True by
default) brings the rows the route's rows reference, and ``follow`` (a list
of relation paths such as ``"orders__items"``) the reverse relations named.
"""

from dataclasses import dataclass

from django.utils.module_loading import import_string

from synctool.conf import settings
from synctool.exceptions import ConfigurationError
from synctool.server.routing import Route

KINDS = ("app", "apps", "models", "queryset", "project")
OPTIONS = {
    "natural_keys": ("app", "apps", "models", "queryset"),
    "exclude": ("app", "apps", "project"),
    "parents": ("models", "queryset"),
    "follow": ("models", "queryset"),
}
ALLOWED_KEYS = {*KINDS, *OPTIONS}


@dataclass(frozen=True)
class RouteSpec:
    """One parsed entry of SYNCTOOL_ROUTES."""

    kind: str
    value: object  # an app label, a tuple of labels, a dotted path, or True
    natural_keys: bool = False
    exclude: tuple[str, ...] = ()
    parents: bool = True
    follow: tuple[str, ...] = ()


def _label_list(path: str, key: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(label, str) and label for label in value)
    ):
        raise ConfigurationError(f"route {path!r}: {key!r} must be a list of labels")
    return tuple(value)


def parse_route_spec(path, spec) -> RouteSpec:
    """The :class:`RouteSpec` of one entry, or raise ConfigurationError."""
    if not isinstance(path, str) or not path:
        raise ConfigurationError(f"route path {path!r} must be a non-empty string")
    if isinstance(spec, str):
        return RouteSpec("app", spec)
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
            f"route {path!r} needs exactly one of {', '.join(map(repr, KINDS))}"
        )
    kind = kinds[0]
    for option, kinds_allowed in OPTIONS.items():
        if option in spec and kind not in kinds_allowed:
            raise ConfigurationError(f"route {path!r}: {option!r} does not apply to {kind!r}")
    natural_keys = spec.get("natural_keys", False)
    if not isinstance(natural_keys, bool):
        raise ConfigurationError(f"route {path!r}: 'natural_keys' must be True or False")
    exclude = _label_list(path, "exclude", spec["exclude"]) if "exclude" in spec else ()
    parents = spec.get("parents", True)
    if not isinstance(parents, bool):
        raise ConfigurationError(f"route {path!r}: 'parents' must be True or False")
    follow = _label_list(path, "follow", spec["follow"]) if "follow" in spec else ()
    value = spec[kind]
    if kind in ("models", "apps"):
        value = _label_list(path, kind, value)
    elif kind == "project":
        if value is not True:
            raise ConfigurationError(f"route {path!r}: 'project' must be True")
    elif not isinstance(value, str) or not value:
        raise ConfigurationError(f"route {path!r}: {kind!r} must be a non-empty string")
    return RouteSpec(kind, value, natural_keys, exclude, parents, follow)


def iter_route_specs():
    """Yield ``(path, spec)`` pairs of SYNCTOOL_ROUTES (an empty dict if unset)."""
    routes = settings.SYNCTOOL_ROUTES or {}
    if not isinstance(routes, dict):
        raise ConfigurationError("SYNCTOOL_ROUTES must be a dict of {url regex: spec}")
    yield from routes.items()


def add_route(route: Route, path: str, spec: RouteSpec) -> None:
    if spec.kind == "app":
        route.app(path, spec.value, natural_keys=spec.natural_keys, exclude=spec.exclude)
    elif spec.kind == "apps":
        route.apps(path, *spec.value, natural_keys=spec.natural_keys, exclude=spec.exclude)
    elif spec.kind == "models":
        route.models(
            path,
            *spec.value,
            natural_keys=spec.natural_keys,
            parents=spec.parents,
            follow=spec.follow,
        )
    elif spec.kind == "project":
        route.project(path, exclude=spec.exclude)
    else:
        route.queryset(
            path, natural_keys=spec.natural_keys, parents=spec.parents, follow=spec.follow
        )(import_string(spec.value))


def route_from_settings() -> Route:
    """A Route serving every valid entry of SYNCTOOL_ROUTES (checks report the rest)."""
    route = Route()
    try:
        specs = list(iter_route_specs())
    except ConfigurationError:
        return route
    for path, spec in specs:
        try:
            add_route(route, path, parse_route_spec(path, spec))
        except (ConfigurationError, ImportError):
            continue
    return route
