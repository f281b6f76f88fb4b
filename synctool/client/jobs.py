"""A sync as a job for a task runner: the arguments of ``sync_data`` in, a
JSON-serialisable summary out.

Shared by :mod:`synctool.tasks` (Django's task framework) and
:mod:`synctool_contrib.celery`: a task's arguments and result travel through
a queue and a result store, so both are plain JSON (no ``SyncResult``, no
exceptions hidden in the result: a failed sync raises, as ``sync()`` does).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable

from django.db import DEFAULT_DB_ALIAS

from synctool.client.api import Client
from synctool.client.lock import FROM_SETTINGS, LockTimeout
from synctool.exceptions import CopyDiffers
from synctool.result import SyncResult

logger = logging.getLogger("synctool")


def run_sync(
    routes: str | Iterable[str],
    *,
    database: str = DEFAULT_DB_ALIAS,
    clean: bool = False,
    incremental: bool = False,
    images: bool = False,
    files: bool = False,
    dry_run: bool = False,
    reset: bool = True,
    ignore_unknown: bool = False,
    allow: Iterable[str] = (),
    endpoint: str | None = None,
    token: str | None = None,
    media_url: str | None = None,
    lock_timeout: LockTimeout = FROM_SETTINGS,
    verify: bool = False,
) -> dict:
    """Sync ``routes`` into ``database`` in one transaction, as ``sync_data`` does
    (``verify``: then compare the copy with the server's rows, as
    ``--verify-after``; a copy that differs fails the job, committed).

    ``endpoint``, ``token`` and ``media_url`` default to the settings
    (``SYNCTOOL_CLIENT_ENDPOINT``, ``SYNCTOOL_CLIENT_TOKEN``,
    ``SYNCTOOL_MEDIA_URL``); the other options are those of
    :meth:`synctool.client.Client.sync_many`. Returns :func:`summary`.
    """
    routes = [routes] if isinstance(routes, str) else list(routes)
    client = Client(api_token=token, api_url=endpoint, media_url=media_url)
    results = client.sync_many(
        routes,
        clean=clean,
        reset=reset,
        images=images,
        files=files,
        using=database,
        dry_run=dry_run,
        ignore_unknown=ignore_unknown,
        allow=list(allow),
        incremental=incremental,
        lock_timeout=lock_timeout,
        verify=verify,
    )
    different = [
        f"{route}: {label}"
        for route, result in zip(routes, results, strict=True)
        for label, verdict in result.verdicts.items()
        if verdict.compared and not verdict.equal
    ]
    if different:
        raise CopyDiffers(
            "the sync was committed, but the local copy differs from the server's: "
            + ", ".join(different)
        )
    failed = sum(len(result.media.failed) for result in results if result.media)
    if failed:
        # The rows are committed: the task succeeds, its summary lists the files.
        logger.warning("synctool: %d media file(s) of %s could not be fetched", failed, routes)
    return summary(routes, results, database=database)


def summary(routes: list[str], results: list[SyncResult], *, database: str) -> dict:
    """What a sync did, as JSON: per route its URL, counts per model, bytes,
    seconds, media and the id of its record in the history of syncs."""
    return {
        "database": database,
        "host": socket.gethostname(),
        "dry_run": any(result.dry_run for result in results),
        "routes": [
            route_summary(route, result) for route, result in zip(routes, results, strict=True)
        ],
    }


def route_summary(route: str, result: SyncResult) -> dict:
    return {
        "route": route,
        "url": result.url,
        "run_id": result.run_id,
        "models": {
            label: {
                "received": counts.received,
                "written": counts.written,
                "deleted": counts.deleted,
            }
            for label, counts in result.models.items()
        },
        "received": result.received,
        "written": result.written,
        "deleted": result.deleted,
        "modes": dict(result.modes),
        "bytes_received": result.bytes_received,
        "bytes_on_wire": result.bytes_on_wire + result.bytes_sent,
        "seconds": round(result.seconds, 3),
        "media": result.media.summary() if result.media is not None else None,
        "notes": list(result.notes),
        "verified": {
            label: {"equal": verdict.equal, "compared": verdict.compared, "rows": verdict.rows}
            for label, verdict in result.verdicts.items()
        },
    }
