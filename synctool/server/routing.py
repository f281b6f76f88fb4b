"""Route: the server side of synctool.

``route.app``, ``route.models`` and ``@route.queryset`` register routes;
``route.urlpatterns`` serves them, each as an anchored, named ``re_path``,
plus an index view answering the JSON manifest of the routes.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.apps import apps
from django.db import models
from django.urls import re_path

from synctool import identity
from synctool.exceptions import ConfigurationError
from synctool.server.export import model_label, order_querysets

QuerysetFunction = Callable[..., models.QuerySet | Iterable[models.QuerySet]]

# Every Route alive, so that system checks can inspect them.
_routes: weakref.WeakSet[Route] = weakref.WeakSet()


def load_urlconf() -> None:
    """Import the URLconf so that Route objects defined in views exist."""
    from django.urls import get_resolver

    # Django's own URL checks report a URLconf that fails to import.
    with contextlib.suppress(Exception):
        get_resolver().url_patterns  # noqa: B018 - evaluated for its import side effect


def all_routes() -> list[Route]:
    return list(_routes)


# Left out of a whole-project route: per-machine state that must not travel
# (logins, the admin's history of the server's edits, synctool's own history
# of syncs and incremental state).
PROJECT_EXCLUDES = ("sessions", "admin.logentry", "synctool")


def _excluded(model: type[models.Model], exclude: tuple[str, ...]) -> bool:
    opts = model._meta
    return any(label in (opts.app_label, opts.label_lower) for label in exclude)


def app_models(label: str) -> list[type[models.Model]]:
    """The concrete models of an installed app (LookupError when it is not installed)."""
    return [m for m in apps.get_app_config(label).get_models() if not m._meta.proxy]


@dataclass
class RouteEntry:
    """One route: a URL regex and how to build its querysets."""

    path: str
    kind: str  # "app", "apps", "models", "project" or "queryset"
    natural_keys: bool = False
    label: str | None = None
    model_labels: tuple[str, ...] = ()
    app_labels: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    function: QuerysetFunction | None = None
    passes_request: bool = field(default=False, repr=False)
    # Queryset and models routes bring the rows their rows reference
    # (:mod:`synctool.server.subsets`); ``follow`` names reverse relations.
    parents: bool = True
    follow: tuple[str, ...] = ()

    def __call__(self, function):
        # The seed's README wrote ``@route.app("sites", "sites")`` as a
        # decorator; keep that spelling harmless.
        return function

    @property
    def name(self) -> str:
        """The URL name: ``synctool_`` and the path's word characters."""
        slug = re.sub(r"\W+", "_", self.path).strip("_") or "root"
        return f"synctool_{slug}"

    def regex(self) -> str:
        path = self.path.removeprefix("^").removesuffix("$").rstrip("/")
        return f"^{path}/?$"

    @property
    def fixed_models(self) -> bool:
        """Whether the models are known without calling anything (all but queryset routes)."""
        return self.kind != "queryset"

    def models(self) -> list[type[models.Model]]:
        """The models of a route other than a queryset route (unknown labels raise LookupError)."""
        if self.kind == "app":
            found = app_models(self.label)
        elif self.kind == "apps":
            found = [model for label in self.app_labels for model in app_models(label)]
        elif self.kind == "models":
            found = [apps.get_model(label) for label in self.model_labels]
        elif self.kind == "project":
            exclude = (*PROJECT_EXCLUDES, *self.exclude)
            return [
                model
                for config in apps.get_app_configs()
                for model in config.get_models()
                if not model._meta.proxy and not _excluded(model, exclude)
            ]
        else:
            raise TypeError("a queryset route has no fixed model list")
        return [model for model in found if not _excluded(model, self.exclude)]

    def querysets(self, request=None, args=(), kwargs=None) -> list[models.QuerySet]:
        """The querysets to stream, in load order."""
        if self.kind == "queryset":
            call_kwargs = dict(kwargs or {})
            if self.passes_request:
                call_kwargs["request"] = request
            result = self.function(*args, **call_kwargs)
            querysets = _as_querysets(result, self.path)
        else:
            querysets = [model._default_manager.all() for model in self.models()]
        return order_querysets(querysets)

    @property
    def carries_parents(self) -> bool:
        """Whether the route brings its rows' parents (a subset: queryset and models routes)."""
        return self.kind in ("queryset", "models") and (self.parents or bool(self.follow))

    def subset(self, querysets: list[models.QuerySet]):
        """The :class:`~synctool.server.subsets.Subset` of ``querysets``, or None."""
        if not self.carries_parents:
            return None
        from synctool.server.subsets import Subset

        return Subset(querysets, self.follow, parents=self.parents)

    def cleanable_labels(self, querysets: list[models.QuerySet]) -> list[str]:
        """The models ``clean`` may empty on the client: the whole tables the
        route sends as its own (none for a queryset route: a subset says
        nothing about the local rows it does not send)."""
        if self.kind == "queryset":
            return []
        return [model_label(qs.model) for qs in querysets]

    def related_labels(self, labels: list[str]) -> tuple[list[str], list[str], list[str]]:
        """``(followed children, possible parents, generic)`` of a route whose own
        models are ``labels``; ``generic``: the models among them whose generic
        relations, or values listed in Wagtail's reference index, may bring
        rows of any model (found only from the rows)."""
        if not self.carries_parents:
            return [], [], []
        from synctool.server.references import is_indexed
        from synctool.server.subsets import local_generic_relations, parent_models, resolve_follow

        own = [apps.get_model(label) for label in labels]
        children = [step.child for step in resolve_follow(own, self.follow)]
        children = [m for m in dict.fromkeys(children) if m not in own]
        parents = parent_models([*own, *children]) if self.parents else []
        generic = (
            [m for m in [*own, *children, *parents] if local_generic_relations(m) or is_indexed(m)]
            if self.parents
            else []
        )
        return (
            [model_label(m) for m in children],
            [model_label(m) for m in parents],
            [model_label(m) for m in generic],
        )

    def manifest_models(self, request=None) -> list[str] | None:
        """Model labels for the index, or None when they depend on URL arguments."""
        if self.kind != "queryset":
            return [model_label(m) for m in (qs.model for qs in self.querysets())]
        parameters = inspect.signature(self.function).parameters.values()
        required = [
            p
            for p in parameters
            if p.default is p.empty
            and p.name != "request"
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if required:
            return None
        return [model_label(qs.model) for qs in self.querysets(request)]

    def natural_key_labels(self) -> list[str]:
        """The models ``natural_keys=True`` identifies by natural key (in every route)."""
        if not self.natural_keys or not self.fixed_models:
            return []
        try:
            return [identity.model_label(model) for model in self.models()]
        except LookupError:
            return []


def project_key_identified() -> frozenset[str]:
    """The labels of the models identified by natural key on this server.

    ``contenttypes.ContentType``, ``auth.Permission``, ``SYNCTOOL_NATURAL_KEYS``
    and the models of every route with ``natural_keys=True``: the same set
    for every route, so references never disagree between routes.
    """
    load_urlconf()
    extra = [
        label for route in all_routes() for e in route.entries for label in e.natural_key_labels()
    ]
    return identity.key_identified_labels(extra)


def _labels(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    return tuple(value.lower() for value in values)


def _follow(paths: Iterable[str]) -> tuple[str, ...]:
    if isinstance(paths, str):
        paths = [paths]
    paths = tuple(paths)
    if not all(isinstance(p, str) and p for p in paths):
        raise ConfigurationError("follow must be a list of relation paths such as 'orders__items'")
    return paths


def _as_querysets(result, path: str) -> list[models.QuerySet]:
    if isinstance(result, models.QuerySet | models.Manager):
        result = [result]
    querysets = []
    for item in result:
        if isinstance(item, models.Manager):
            item = item.all()
        if not isinstance(item, models.QuerySet):
            raise ConfigurationError(
                f"the function of route {path!r} must return querysets, got {type(item).__name__}"
            )
        querysets.append(item)
    return querysets


class Route:
    """A set of sync routes protected by one token.

    :param api_token: the token (or list of tokens) clients must present;
        defaults to ``settings.SYNCTOOL_API_TOKEN``, read at request time.
    """

    def __init__(self, api_token: str | list[str] | None = None):
        self.api_token = api_token
        self.entries: list[RouteEntry] = []
        _routes.add(self)

    def _add(self, entry: RouteEntry) -> RouteEntry:
        if any(existing.regex() == entry.regex() for existing in self.entries):
            raise ConfigurationError(f"route {entry.path!r} is registered twice")
        self.entries.append(entry)
        return entry

    def app(
        self, path: str, label: str, natural_keys: bool = False, *, exclude: Iterable[str] = ()
    ) -> RouteEntry:
        """Serve every concrete model of the installed app ``label``, like ``dumpdata label``.

        :param natural_keys: identify this app's models by natural key in
            every route (the same as listing them in ``SYNCTOOL_NATURAL_KEYS``).
        :param exclude: model labels (``"app_label.ModelName"``) to leave out.
        """
        return self._add(
            RouteEntry(path, "app", natural_keys, label=label, exclude=_labels(exclude))
        )

    def apps(
        self, path: str, *labels: str, natural_keys: bool = False, exclude: Iterable[str] = ()
    ) -> RouteEntry:
        """Serve every concrete model of several installed apps, like ``dumpdata a b c``."""
        if not labels:
            raise ConfigurationError(f"route {path!r} names no apps")
        return self._add(
            RouteEntry(
                path, "apps", natural_keys, app_labels=tuple(labels), exclude=_labels(exclude)
            )
        )

    def project(self, path: str, *, exclude: Iterable[str] = ()) -> RouteEntry:
        """Serve every concrete model of every installed app, like ``dumpdata`` with no label.

        Sessions and the admin's log entries are always left out;
        ``exclude`` names more app labels or model labels.
        """
        return self._add(RouteEntry(path, "project", exclude=_labels(exclude)))

    def models(
        self,
        path: str,
        *labels: str,
        natural_keys: bool = False,
        parents: bool = True,
        follow: Iterable[str] = (),
    ) -> RouteEntry:
        """Serve the models named by ``labels`` (``"app_label.ModelName"``).

        :param natural_keys: identify these models by natural key in every route.
        :param parents: also send the rows of other models these rows
            reference, recursively (see :mod:`synctool.server.subsets`).
        :param follow: reverse relations to send too (``"orders__items"``).
        """
        if not labels:
            raise ConfigurationError(f"route {path!r} names no models")
        return self._add(
            RouteEntry(
                path,
                "models",
                natural_keys,
                model_labels=tuple(labels),
                parents=parents,
                follow=_follow(follow),
            )
        )

    def queryset(
        self,
        path: str,
        natural_keys: bool = False,
        *,
        parents: bool = True,
        follow: Iterable[str] = (),
    ):
        """Decorator: serve the querysets a function returns.

        Groups of the URL regex become the function's arguments; a function
        that declares ``request`` receives the request too. The rows these
        rows reference come along (``parents=False``: not), and the reverse
        relations named in ``follow`` (``["orders", "orders__items"]``).
        """

        def register(function: QuerysetFunction) -> QuerysetFunction:
            passes_request = "request" in inspect.signature(function).parameters
            self._add(
                RouteEntry(
                    path,
                    "queryset",
                    natural_keys,
                    function=function,
                    passes_request=passes_request,
                    parents=parents,
                    follow=_follow(follow),
                )
            )
            return function

        return register

    @property
    def urlpatterns(self) -> list:
        """The URL patterns: one named ``re_path`` per route, and the index."""
        from synctool.server.views import export_view, index_view, unknown_view

        patterns = [re_path(r"^$", index_view(self), name="synctool_index")]
        used = {"synctool_index"}
        for entry in self.entries:
            # Paths that differ only in punctuation ("blog/x", "blog-x") get
            # distinct names: a numbered suffix for the later ones.
            name, number = entry.name, 2
            while name in used:
                name, number = f"{entry.name}_{number}", number + 1
            used.add(name)
            patterns.append(re_path(entry.regex(), export_view(self, entry), name=name))
        # Anything else under the routes: 401 without a token (no enumeration), else 404.
        patterns.append(re_path(r"^.*$", unknown_view(self), name="synctool_unknown"))
        return patterns
