"""The hook specifications of synctool, grouped by where they run.

Plugins implement them with ``from synctool import hookimpl``. Hooks are
always called with keyword arguments, and an implementation may accept
fewer arguments than the specification lists, so a specification can grow.

- **server**: ``refuse_route``, ``transform_object`` (``side="server"``),
  ``export_finished``;
- **load** (the client's transaction): ``pre_clean``, ``transform_object``
  (``side="client"``), ``post_save``;
- **media**: ``fetch_media``;
- **backend**: ``reset_sequences``;
- **checks**: ``system_checks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from django.apps import AppConfig
    from django.core.checks import CheckMessage
    from django.core.files.storage import Storage
    from django.db import models
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.http import HttpRequest

PROJECT_NAME = "synctool"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- server ------------------------------------------------------------------


@hookspec(firstresult=True)
def refuse_route(path: str, models: list[type[models.Model]], request: HttpRequest) -> str | None:
    """Decide, on the server, whether a route may be served to this request.

    Called after the token is checked and before the first byte is sent.

    :param path: the route's URL regex.
    :param models: the model classes the route would serve, in load order.
    :param request: the ``HttpRequest``.
    :returns: a message (a string) to refuse with HTTP 403 and that message,
        or ``None`` to serve. Stops at the first non-None result.
    """


@hookspec
def transform_object(obj: dict, side: str) -> bool | None:
    """Change or drop one serialized object.

    Called for every object, on the server before it is written to the
    response (``side="server"``) and on the client before it is saved
    (``side="client"``).

    :param obj: a dict ``{"model": "app.model", "pk": ..., "fields": {...}}``;
        mutate it in place.
    :param side: ``"server"`` or ``"client"``.
    :returns: ``False`` to drop the object; any other value keeps it.
    """


@hookspec
def export_finished(
    path: str,
    request: HttpRequest,
    token_id: str,
    rows: int,
    bytes_sent: int,
    seconds: float,
    outcome: str,
) -> None:
    """Run on the server when a route's response has ended, whichever way.

    After synctool's own audit line (logger ``synctool.audit``); an exception
    raised here is logged, not sent to anyone.

    :param path: the route's URL regex.
    :param request: the ``HttpRequest``.
    :param token_id: a digest prefix naming the token (never the token).
    :param rows: the objects sent.
    :param bytes_sent: the bytes of the body (compressed when it was).
    :param seconds: how long the response streamed.
    :param outcome: ``"complete"``, ``"failed"`` (an error while streaming:
        the body is cut) or ``"closed"`` (the client went away first).
    :returns: ignored.
    """


# -- load (the client's transaction) -------------------------------------------


@hookspec(firstresult=True)
def pre_clean(
    model: type[models.Model], queryset: models.QuerySet, using: str
) -> models.QuerySet | None:
    """Choose the local rows of ``model`` that ``clean`` deletes.

    Called once per model of the route, in reverse dependency order, inside
    the sync's transaction, before the rows are deleted (and once more, to
    count them, before a clean that would delete far more rows than arrive).

    :param model: the model class about to be cleaned.
    :param queryset: the rows that would be deleted (all rows of the model
        on the ``using`` database).
    :param using: the database alias being synced into.
    :returns: a queryset of the same model to delete instead (for example
        ``queryset.exclude(is_superuser=True)``), or ``None`` to keep the
        default. Stops at the first non-None result.
    """


@hookspec
def post_save(model: type[models.Model], instances: list[models.Model], using: str) -> None:
    """Run after a batch of objects of one model has been written.

    Called inside the sync's transaction: raising rolls the whole sync back.

    :param model: the model class of the batch.
    :param instances: the list of instances just written.
    :param using: the database alias being synced into.
    :returns: ignored.
    """


# -- media ---------------------------------------------------------------------


@hookspec(firstresult=True)
def fetch_media(
    name: str, url: str | None, storage: Storage, field: models.FileField
) -> bool | None:
    """Download one media file into a storage.

    :param name: the file name as stored in the field (relative to the storage).
    :param url: the full URL of the file on the server, or ``None`` when no
        media URL is configured (only possible when a plugin other than the
        built-in HTTP download implements this hook).
    :param storage: the Django storage the file must be written to.
    :param field: the ``FileField`` or ``ImageField`` the file belongs to.
    :returns: ``True`` when this implementation wrote the file. Stops at the
        first non-None result; the built-in HTTP implementation runs last.
    """


# -- backend -------------------------------------------------------------------


@hookspec(firstresult=True)
def reset_sequences(
    connection: BaseDatabaseWrapper, models: list[type[models.Model]]
) -> bool | None:
    """Reset the primary-key sequences of ``models`` after a sync.

    :param connection: the Django database connection synced into.
    :param models: the model classes the sync wrote or cleaned (and their
        multi-table parents).
    :returns: ``True`` when this implementation handled the backend; ``None``
        to let the next one try. Stops at the first non-None result; the
        built-in implementation (every backend's own reset) runs last.
    """


# -- checks --------------------------------------------------------------------


@hookspec
def system_checks(app_configs: list[AppConfig] | None) -> list[CheckMessage]:
    """Return the plugin's ``manage.py check`` messages.

    Called by synctool's plugin check, so a plugin's checks run exactly when
    it is registered.

    :param app_configs: as for any Django check function (None: every app).
    :returns: a list of ``django.core.checks`` messages (``Error``,
        ``Warning``...), empty when all is well.
    """
