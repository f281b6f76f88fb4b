"""Server side: the manifest the index view answers.

It describes what the routes serve and on what schema, so that a client can
tell before any row moves whether it can take them (the schema gate,
:mod:`synctool.client.gate`):

- ``routes``: each route's path, kind and models; a route whose models are
  unknown without calling it (URL arguments, a function that raises) is
  listed with ``"models": null`` and the reason, never failing the index;
- ``schema``: for each model of those routes (and those asked for with
  ``?models=app.model,...``), its fields as sent;
- ``migrations``: per app, the migrations applied on the server's database;
- ``database``: an identity of the serving database (a digest), so that a
  client refuses to sync into the very database it reads from.
"""

from __future__ import annotations

import logging

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.recorder import MigrationRecorder
from django.http import HttpRequest

import synctool
from synctool.backends import backend_for
from synctool.meta import describe_fields

logger = logging.getLogger("synctool")
MAX_ASKED_MODELS = 500


def applied_migrations(alias: str = DEFAULT_DB_ALIAS) -> dict[str, list[str]]:
    """``{app_label: [migration names]}`` applied on database ``alias``."""
    try:
        applied = MigrationRecorder(connections[alias]).applied_migrations()
    except DatabaseError:
        return {}
    result: dict[str, list[str]] = {}
    for app_label, name in sorted(applied):
        result.setdefault(app_label, []).append(name)
    return result


def database_identity(alias: str = DEFAULT_DB_ALIAS) -> dict:
    backend = backend_for(connections[alias])
    return {"vendor": backend.name, "id": backend.database_id()}


def describe_route(entry, request: HttpRequest | None) -> dict:
    item = {
        "path": entry.path,
        "name": entry.name,
        "kind": entry.kind,
        "natural_keys": entry.natural_keys,
    }
    try:
        labels = entry.manifest_models(request)
    except Exception as exc:  # a route function that raises is reported, not fatal
        logger.warning("synctool: route %r cannot be described: %s", entry.path, exc)
        item["models"] = None
        item["reason"] = f"its function raised {type(exc).__name__}: {exc}"
        return item
    item["models"] = labels
    if labels is None:
        item["reason"] = "its models depend on the URL arguments"
    elif entry.carries_parents:
        try:
            children, parents, generic = entry.related_labels(labels)
        except Exception as exc:  # a follow path that does not exist: reported
            item["models"] = None
            item["reason"] = f"its related models cannot be found: {exc}"
            return item
        item["models"] = [*labels, *children]
        item["parents"] = parents
        if generic:
            # Their objects may be of any model: known only from the rows.
            item["generic"] = generic
    if entry.follow:
        item["follow"] = list(entry.follow)
    return item


def asked_models(request: HttpRequest | None) -> list[str]:
    """The labels of ``?models=a.b,c.d``: models whose schema the client asks for."""
    if request is None:
        return []
    value = request.GET.get("models", "")
    return [label.strip().lower() for label in value.split(",") if label.strip()][:MAX_ASKED_MODELS]


def build_manifest(
    route, request: HttpRequest | None, key_identified, may_pull=lambda path: True
) -> dict:
    """The manifest of ``route``'s entries that ``may_pull(path)`` allows."""
    routes = [describe_route(entry, request) for entry in route.entries if may_pull(entry.path)]
    labels = [
        label
        for item in routes
        for label in [*(item.get("models") or ()), *(item.get("parents") or ())]
    ]
    schema = {}
    for label in dict.fromkeys([*labels, *asked_models(request)]):
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            continue
        schema[label] = {"fields": describe_fields(model)}
    return {
        "synctool": synctool.__version__,
        "natural_keys": sorted(key_identified),
        "database": database_identity(),
        "migrations": applied_migrations(),
        "schema": schema,
        "routes": routes,
    }
