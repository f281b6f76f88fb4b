"""Client: the local side of synctool.

``Client(api_url=..., api_token=...).sync("blogs", clean=True)`` streams a
route into the local database in one transaction; ``client.images(qs,
"field")`` downloads the media files of a queryset.
"""

import contextlib
import functools
import logging
import time
import warnings
from collections.abc import Callable, Iterable
from urllib.parse import urlencode, urlsplit

import orjson
from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, DatabaseError, models, transaction

from synctool.client.allow import refuse_unallowed
from synctool.client.confirm import ConfirmClean, ask_before_large_clean
from synctool.client.gate import GateReport, check_schema, refuse_same_database
from synctool.client.history import History, close_abandoned, history_table_ready
from synctool.client.increment import RouteIncrement
from synctool.client.loader import RoutePart, SyncLoader
from synctool.client.lock import FROM_SETTINGS, LockTimeout, sync_lock
from synctool.client.media import MediaCollector, fetch_media_files, media_url_optional
from synctool.client.routes import check_announced, check_route_names, route_name
from synctool.client.statestore import stored_state
from synctool.client.streams import RouteStreams
from synctool.client.transport import (
    PlainHTTPWarning,
    build_session,
    check_scheme,
    open_url,
    plain_http_warning,
    safe_url,
)
from synctool.client.verify import RouteVerification, Verdict, omitted
from synctool.conf import settings
from synctool.exceptions import ConfigurationError, MalformedResponse, SynctoolError
from synctool.result import MediaResult, Progress, SyncResult
from synctool.wire.state import NO_EARLIER_STATE

logger = logging.getLogger("synctool")


def incremental_objects(streams: RouteStreams, index: int, increment: RouteIncrement):
    """The objects of route ``index``, asked with this client's incremental state
    (read when the loader reaches the route, in the sync's transaction)."""
    return lambda: streams.objects(index, state=increment)


def route_list(urls: str | Iterable[str]) -> list[str]:
    """The routes asked for: one route named as a string is a list of one
    (not of its letters)."""
    return [urls] if isinstance(urls, str) else list(urls)


def refuse_routes_named_twice(urls: list[str]) -> None:
    """Refuse a route named twice, as it is typed or in two spellings
    (``tree tree/``, see :func:`~synctool.client.routes.route_name`)."""
    for index, url in enumerate(urls):
        same = [other for other in urls[index + 1 :] if route_name(other) == route_name(url)]
        if same and same[0] == url:
            raise ConfigurationError(f"route {url!r} is named twice: name each route once")
        if same:
            raise ConfigurationError(f"{url!r} and {same[0]!r} are one route: name each route once")


def keep_states(increments: list[RouteIncrement], history: History) -> None:
    """Write each route's new incremental state, in the sync's transaction."""
    for index, increment in enumerate(increments):
        history.keep_state(index, increment.save_state(history.runs[index].pk))


def refuse_shared_models(urls: list[str], increments: list[RouteIncrement]) -> None:
    """Two routes of one incremental sync may not both own a model: each would
    delete the rows the other's state holds."""
    owner: dict[str, str] = {}
    for url, increment in zip(urls, increments, strict=True):
        for label in increment.cleanable:
            if label in owner:
                raise ConfigurationError(
                    f"routes {owner[label]!r} and {url!r} both carry {label}: sync them "
                    "incrementally one at a time"
                )
            owner[label] = url


def join_url(base: str, path: str) -> str:
    """``base`` and ``path`` joined with exactly one slash between them."""
    return base.rstrip("/") + "/" + path.lstrip("/")


class Client:
    """Pulls routes from a synctool server.

    :param api_token: the token; defaults to ``settings.SYNCTOOL_CLIENT_TOKEN``.
    :param api_url: the server's base URL, e.g. ``"https://example.com/sync/"``
        (with or without the trailing slash); defaults to
        ``settings.SYNCTOOL_CLIENT_ENDPOINT``.
    :param media_url: the base URL of the server's media files; defaults to
        ``settings.SYNCTOOL_MEDIA_URL``.
    """

    def __init__(
        self,
        api_token: str | None = None,
        api_url: str | None = None,
        media_url: str | None = None,
    ):
        self._api_token = api_token
        self._api_url = api_url
        self._media_url = media_url

    # Settings are read when used, not when the client is built, so a
    # module-level Client (as in the seed's examples) follows the settings.
    @property
    def api_token(self) -> str | None:
        """The token: the argument, else SYNCTOOL_CLIENT_TOKEN, else the user
        name of the URL (``https://TOKEN@example.com/sync/``)."""
        if self._api_token is not None:
            return self._api_token
        if settings.SYNCTOOL_CLIENT_TOKEN:  # an empty one (an exported empty variable): none
            return settings.SYNCTOOL_CLIENT_TOKEN
        return urlsplit(self.api_url or "").username or None

    @property
    def api_url(self) -> str | None:
        return self._api_url if self._api_url is not None else settings.SYNCTOOL_CLIENT_ENDPOINT

    @property
    def media_url(self) -> str | None:
        return self._media_url if self._media_url is not None else settings.SYNCTOOL_MEDIA_URL

    def __repr__(self) -> str:
        return f"<Client api_url={safe_url(self.api_url or '')!r}>"

    def url_for(self, path: str) -> str:
        """The full URL of route ``path``."""
        if not self.api_url:
            raise ConfigurationError(
                "no server URL: pass --endpoint URL (Client(api_url=...)) "
                "or set SYNCTOOL_CLIENT_ENDPOINT"
            )
        check_scheme(self.api_url, "the server URL")
        # Credentials in the URL are used as the token (see api_token), never
        # sent as they are.
        return join_url(safe_url(self.api_url), path)

    def sync(
        self,
        url: str,
        clean: bool = False,
        reset: bool = True,
        images: bool = False,
        *,
        files: bool = False,
        using: str = DEFAULT_DB_ALIAS,
        dry_run: bool = False,
        ignore_unknown: bool = False,
        allow: Iterable[str] = (),
        confirm_clean: ConfirmClean | None = None,
        progress: Callable[[Progress], None] | None = None,
        incremental: bool = False,
        verify: bool = False,
        lock_timeout: LockTimeout = FROM_SETTINGS,
    ) -> SyncResult:
        """Pull route ``url`` into the ``using`` database, in one transaction.

        :param clean: delete the local rows of the route's models first
            (never those of models identified by natural key).
        :param reset: reset primary-key sequences afterwards.
        :param images: download every ImageField file of the synced objects.
        :param files: download every other FileField file too.
        :param dry_run: download and validate everything, write nothing.
        :param ignore_unknown: leave out the models and fields the server
            sends that this code does not have, instead of refusing.
        :param allow: labels of models to allow for this sync on top of
            ``SYNCTOOL_CLIENT_ALLOW`` (see :mod:`synctool.client.allow`).
        :param confirm_clean: called with ``({label: local rows}, {label:
            rows announced})`` before a clean that would delete far more rows
            than the server sends; a false answer cancels the sync.
        :param progress: called with a :class:`~synctool.result.Progress`.
        :param incremental: move only the rows that changed since the last
            successful incremental sync of this route into ``using`` (the
            first one is full); the result is what a ``clean`` sync would
            give. Needs the history of syncs (``migrate synctool``).
        :param verify: after the commit, compare the copy with the server's
            rows (:meth:`verify`); the verdicts are in ``result.verdicts``.
        :param lock_timeout: seconds to wait for another sync into ``using``
            to finish (0: fail at once with
            :class:`~synctool.exceptions.SyncLocked`; None: wait as long as
            it takes); by default ``SYNCTOOL_SYNC_LOCK_TIMEOUT``. See
            :mod:`synctool.client.lock`.
        :raises SynctoolError: a subclass naming what went wrong; the local
            database is then exactly as it was.
        """
        return self.sync_many(
            [url],
            clean,
            reset,
            images,
            files=files,
            using=using,
            dry_run=dry_run,
            ignore_unknown=ignore_unknown,
            allow=allow,
            confirm_clean=confirm_clean,
            progress=progress,
            incremental=incremental,
            verify=verify,
            lock_timeout=lock_timeout,
        )[0]

    def sync_many(
        self,
        urls: str | Iterable[str],
        clean: bool = False,
        reset: bool = True,
        images: bool = False,
        *,
        files: bool = False,
        using: str = DEFAULT_DB_ALIAS,
        dry_run: bool = False,
        ignore_unknown: bool = False,
        allow: Iterable[str] = (),
        confirm_clean: ConfirmClean | None = None,
        progress: Callable[[Progress], None] | None = None,
        incremental: bool = False,
        verify: bool = False,
        lock_timeout: LockTimeout = FROM_SETTINGS,
    ) -> list[SyncResult]:
        """Pull several routes into ``using`` in one transaction: all of them or nothing.

        Every route is checked against the server's manifest first (a typo
        gets a did-you-mean) and the schema gate runs (see
        :meth:`check`); then the models of every route are cleaned, each
        route is loaded in turn, and the constraint check and the sequence
        reset cover them all. The options are those of :meth:`sync`; the
        result is one :class:`~synctool.result.SyncResult` per route, in
        order.

        Only one sync writes into a database at a time: this one holds the
        database's lock (:mod:`synctool.client.lock`) from before its first
        request to its last write, dry runs included (they write, then roll
        back), and waits ``lock_timeout`` seconds for another holder.
        """
        urls = route_list(urls)
        refuse_routes_named_twice(urls)
        if incremental and clean:
            raise ConfigurationError(
                "--clean and --incremental do not go together: an incremental sync already "
                "gives what a clean one would (deleted rows included); drop --clean"
            )
        endpoint = safe_url(self.url_for(""))
        with self._hold_lock(using, lock_timeout):
            return self._record_and_sync(
                urls,
                endpoint,
                clean=clean,
                reset=reset,
                images=images,
                files=files,
                using=using,
                dry_run=dry_run,
                ignore_unknown=ignore_unknown,
                allow=allow,
                confirm_clean=confirm_clean,
                progress=progress,
                incremental=incremental,
                verify=verify,
            )

    @contextlib.contextmanager
    def _hold_lock(self, using, lock_timeout):
        """The sync lock of ``using`` (:mod:`synctool.client.lock`) for the block.

        A sync that takes it marks the runs still recorded as running as
        interrupted: none can be running while it holds the lock. A sync
        refused by the lock never started and is not recorded (on SQLite it
        could not be: the running sync holds the database's only write lock).
        """
        with sync_lock(using, lock_timeout) as taken:
            if taken and history_table_ready(using):
                close_abandoned(using)
            yield

    def _record_and_sync(
        self, urls, endpoint, *, clean, reset, images, files, using, dry_run, ignore_unknown,
        allow, confirm_clean, progress, incremental, verify,
    ) -> list[SyncResult]:  # fmt: skip
        """The sync of :meth:`sync_many`, under the lock, recorded in the history
        (and verified after its commit, still under the lock, with ``verify``)."""
        results = [
            SyncResult(url=safe_url(self.url_for(url)), using=using, dry_run=dry_run, route=url)
            for url in urls
        ]
        history = None
        if history_table_ready(using):
            history = History(
                urls,
                endpoint=endpoint,
                using=using,
                clean=clean,
                incremental=incremental,
                dry_run=dry_run,
            )
            for result, run in zip(results, history.runs, strict=True):
                result.run_id = run.pk
        elif incremental:
            raise ConfigurationError(
                f"--incremental keeps its state in the history of syncs, which database "
                f"{using!r} does not have: run `manage.py migrate synctool --database {using}`"
            )
        try:
            self._sync_into(
                urls,
                results,
                clean=clean,
                reset=reset,
                images=images,
                files=files,
                using=using,
                dry_run=dry_run,
                ignore_unknown=ignore_unknown,
                allow=allow,
                confirm_clean=confirm_clean,
                progress=progress,
                previous=(
                    [stored_state(url, endpoint, using) for url in urls] if incremental else None
                ),
                history=history,
            )
        except BaseException as exc:
            committed = any(result.committed for result in results)
            if committed and isinstance(exc, SynctoolError | KeyboardInterrupt):
                exc.committed = True  # sync_data says so on Ctrl-C too
            if history is not None:
                if isinstance(exc, SynctoolError):
                    message = str(exc)
                elif exc.args:
                    message = f"{type(exc).__name__}: {exc}"
                elif isinstance(exc, KeyboardInterrupt):
                    message = "interrupted (Ctrl-C, SIGINT)"
                else:  # a task's SoftTimeLimitExceeded()
                    message = type(exc).__name__
                try:
                    history.finish(results, error=message)
                except DatabaseError:
                    # The database itself failed (the reason of the sync's
                    # failure, often): the sync's error is the one to raise.
                    logger.exception("synctool: the failed sync could not be recorded")
            raise
        if history is not None:
            history.finish(results)
        if verify and not dry_run:
            try:
                for url, result in zip(urls, results, strict=True):
                    result.verdicts = self.verify(url, using=using, ignore_unknown=ignore_unknown)
            except SynctoolError as exc:
                exc.committed = True  # the sync was: retrying it is not what failed
                raise
        return results

    def _sync_into(
        self, urls, results, *, clean, reset, images, files, using, dry_run, ignore_unknown,
        allow, confirm_clean, progress, previous, history,
    ) -> None:  # fmt: skip
        """The sync itself (see :meth:`sync_many`)."""
        started = time.monotonic()
        media = images or files
        collectors = [MediaCollector(images=images, files=files) for _ in urls] if media else []
        media_url = self._require_media_url() if media and not dry_run else None
        with (
            build_session(self.api_token) as session,
            self._preflight(session, urls, using, ignore_unknown, allow) as (streams, report),
        ):
            for index, result in enumerate(results):
                result.expected = streams.counts(index)
                result.parents = streams.parents(index)
                result.notes = list(report.notes) if index == 0 else []
            increments = (
                [
                    RouteIncrement(
                        using,
                        streams.labels(index),
                        streams.cleanable(index),
                        previous[index],
                        results[index],
                        key_identified=streams.natural_keys,
                        left_out=[label for label, plan in report.plans.items() if plan.dropped],
                    )
                    for index in range(len(urls))
                ]
                if previous is not None
                else None
            )
            if increments is not None:
                refuse_shared_models(urls, increments)
            parts = [
                RoutePart(
                    url=results[index].url,
                    labels=streams.labels(index),
                    result=results[index],
                    name=urls[index],
                    objects=(
                        functools.partial(streams.objects, index)
                        if increments is None
                        else incremental_objects(streams, index, increments[index])
                    ),
                    bytes_received=functools.partial(streams.bytes_received, index),
                    on_batch=[collectors[index].collect] if collectors else [],
                    cleanable=streams.cleanable(index),
                    increment=increments[index] if increments is not None else None,
                )
                for index in range(len(urls))
            ]
            loader = SyncLoader(
                using=using,
                parts=parts,
                clean=clean,
                reset=reset,
                dry_run=dry_run,
                progress=progress,
                key_identified=streams.natural_keys,
                plans=report.plans,
                before_commit=(
                    functools.partial(keep_states, increments, history)
                    if increments is not None and history is not None
                    else None
                ),
            )
            if clean and confirm_clean is not None:
                ask_before_large_clean(loader, results, confirm_clean)
            try:
                loader.run()
                for result in results:
                    result.committed = not dry_run
            finally:
                for index, result in enumerate(results):
                    result.bytes_received = streams.bytes_received(index)
                    result.bytes_on_wire, result.bytes_sent = streams.bytes_on_wire(index)
        if collectors and not dry_run:
            for result, collector in zip(results, collectors, strict=True):
                result.media = fetch_media_files(
                    collector.items, media_url, progress, route=result.route
                )
        if images and not files:
            for result in results:
                result.notes.extend(files_left_note(result))
        seconds = time.monotonic() - started
        for result in results:
            result.seconds = seconds if len(results) == 1 else result.seconds or seconds
            if increments is None and result.models and not result.received:
                # Right, but worth a look: a subset whose root matched no row
                # (a mistyped key in its URL) looks the same.
                result.notes.append(f"{result.route}: the server sent no rows")
        for result, increment in zip(results, increments or (), strict=False):
            result.modes = dict(increment.modes)
            result.notes.extend(full_sync_notes(increment.modes, increment.reasons))

    def verify(
        self, url: str, *, using: str = DEFAULT_DB_ALIAS, ignore_unknown: bool = False
    ) -> dict[str, Verdict]:
        """Compare the local copy of route ``url`` with the server's rows, writing nothing.

        The server digests every row of the route as a sync would send it
        (scrubbed); this client digests its own rows serialized the same way
        and compares them key by key (see :mod:`synctool.client.verify`):
        ``{label: Verdict}``, each ``equal`` or not, with how many rows differ,
        are missing here or are here and not on the server, and the first
        keys. Any copy can be verified, however it was made.
        """
        with (
            build_session(self.api_token) as session,
            self._preflight(session, [url], using, ignore_unknown, writes=False) as (
                streams,
                report,
            ),
        ):
            verification = RouteVerification(
                streams.labels(0), streams.cleanable(0), using, streams.natural_keys, report.plans
            )
            with transaction.atomic(using=using):  # the local rows as one snapshot
                records = streams.objects(0, verify=True, omit=omitted(report.plans))
                return verification.run(records)

    def check(
        self,
        urls: str | Iterable[str],
        *,
        using: str = DEFAULT_DB_ALIAS,
        ignore_unknown: bool = False,
        allow: Iterable[str] = (),
    ) -> GateReport:
        """Run only the schema gate for ``urls``: could this database take them now?

        Asks the manifest and every route's headers, compares them with this
        code and database, and returns the :class:`~synctool.client.gate.GateReport`
        (its ``refusals`` and ``notes``); no body is requested, nothing is
        written. Raises, as :meth:`sync` would, when a route does not exist
        or the server's database is ``using`` itself.
        """
        with build_session(self.api_token) as session:
            preflight = self._preflight(
                session, route_list(urls), using, ignore_unknown, allow, raise_refused=False
            )
            with preflight as (_, report):
                return report

    @contextlib.contextmanager
    def _preflight(
        self, session, urls, using, ignore_unknown, allow=(), *, raise_refused=True, writes=True
    ):
        """Manifest, route names, same database, ``HEAD`` of every route, the models
        this client allows (when it ``writes``), schema gate."""
        if not urls:
            raise ConfigurationError("name at least one route to sync")
        full_urls = [self.url_for(url) for url in urls]
        where = safe_url(self.url_for(""))
        warning = plain_http_warning(where)
        if warning is not None:
            warnings.warn(warning, PlainHTTPWarning, stacklevel=4)
        manifest = self._manifest(session)
        check_route_names(manifest, urls, where)
        refuse_same_database(manifest, using, where)
        with RouteStreams(session, full_urls) as streams:
            labels = [label for index in range(len(urls)) for label in streams.labels(index)]
            for index, url in enumerate(urls):
                check_announced(manifest, url, streams.labels(index), safe_url(full_urls[index]))
            if writes:
                where_routes = ", ".join(safe_url(url) for url in full_urls)
                refuse_unallowed(labels, where_routes, allow, streams.natural_keys)
            schema = manifest.get("schema")
            if schema is not None:
                missing = [label for label in dict.fromkeys(labels) if label not in schema]
                if missing:
                    schema.update(self._manifest(session, models=missing).get("schema") or {})
            report = check_schema(manifest, labels, using, ignore_unknown=ignore_unknown)
            if raise_refused:
                report.raise_if_refused(", ".join(safe_url(url) for url in full_urls))
            yield streams, report

    def images(self, queryset: models.QuerySet, field: str) -> MediaResult:
        """Download the file of ``field`` for every object of ``queryset``.

        Empty names and files the field's storage already has are skipped.
        """
        model_field = queryset.model._meta.get_field(field)
        if not isinstance(model_field, models.FileField):
            raise ConfigurationError(
                f"{queryset.model._meta.label}.{field} is not a FileField or ImageField"
            )
        names = queryset.exclude(**{field: ""}).exclude(**{f"{field}__isnull": True})
        items = {(model_field, name) for name in names.values_list(field, flat=True).iterator()}
        return fetch_media_files(items, self._require_media_url())

    def manifest(self) -> dict:
        """The server's manifest: its version and its routes with their models."""
        with build_session(self.api_token) as session:
            return self._manifest(session)

    def _manifest(self, session, models: list[str] | None = None) -> dict:
        url = self.url_for("")
        if models:
            url += "?" + urlencode({"models": ",".join(models)})
        download = open_url(session, url)
        try:
            manifest = orjson.loads(b"".join(download.chunks()))
        except orjson.JSONDecodeError as exc:
            raise MalformedResponse(f"{download.url}: the manifest is not JSON: {exc}") from None
        finally:
            download.close()
        if not isinstance(manifest, dict) or not isinstance(manifest.get("routes"), list):
            raise MalformedResponse(f"{safe_url(download.url)}: the manifest has no route list")
        return manifest

    def _require_media_url(self) -> str | None:
        # Not needed when a plugin (synctool_contrib.s3) fetches without HTTP.
        if not self.media_url and not media_url_optional():
            raise ConfigurationError(
                "no media URL: pass --media-url URL (Client(media_url=...)) "
                "or set SYNCTOOL_MEDIA_URL"
            )
        return self.media_url


def files_left_note(result: SyncResult) -> list[str]:
    """``--images`` without ``--files``: the file fields of the synced rows that
    are not ImageFields, whose files were not fetched (django-filer keeps its
    images in a FileField)."""
    left = []
    for label, counts in result.models.items():
        if not counts.received:
            continue
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        left += [
            f"{label}.{field.name}"
            for field in model._meta.concrete_fields
            if isinstance(field, models.FileField) and not isinstance(field, models.ImageField)
        ]
    if not left:
        return []
    return [
        f"--images fetches the files of ImageFields only; not fetched: {', '.join(left)} "
        "(--files fetches every file field)"
    ]


def full_sync_notes(modes: dict[str, str], reasons: dict[str, str]) -> list[str]:
    """Why each model of an incremental sync went in full; the models of a
    first incremental sync (no earlier state) in one note, not one each."""
    full = {label: reason for label, reason in reasons.items() if modes.get(label) == "full"}
    first = [label for label, reason in full.items() if reason == NO_EARLIER_STATE]
    if len(first) < 2:
        return [f"{label} synced in full: {reason}" for label, reason in full.items()]
    shown = ", ".join(first[:5]) + (f" and {len(first) - 5} more" if len(first) > 5 else "")
    return [f"{len(first)} models synced in full: {NO_EARLIER_STATE} ({shown})"] + [
        f"{label} synced in full: {reason}"
        for label, reason in full.items()
        if reason != NO_EARLIER_STATE
    ]
