"""``manage.py sync_data ROUTE [ROUTE ...]``: pull routes from the server.

A thin layer over :class:`synctool.client.Client`: it parses options, shows
progress on a terminal, prints a summary and turns every SynctoolError into
one line and exit status 1.
"""

import argparse
import contextlib
import logging
import math
import os
import sys
import textwrap
import warnings

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from synctool.client import Client
from synctool.client.history import history_table_ready
from synctool.client.lock import FROM_SETTINGS
from synctool.client.media import media_fetchers
from synctool.client.progress import SyncProgress
from synctool.client.routes import route_spellings
from synctool.client.screen import LiveLines, PlainLines, terminal_width
from synctool.client.transport import PlainHTTPWarning, plain_http_warning, safe_url
from synctool.client.verify import verdict_line
from synctool.conf import settings
from synctool.exceptions import SynctoolError
from synctool.models import SyncRun
from synctool.origin import COMMAND, started_by
from synctool.result import SyncResult
from synctool.text import printable


def allowed_labels(values: list[str]) -> list[str]:
    """``--allow a --allow b,c`` as ``["a", "b", "c"]``."""
    return [label.strip() for value in values for label in value.split(",") if label.strip()]


def lock_timeout(value: str) -> float | None:
    """``--lock-timeout``: seconds (0: fail at once), or ``forever``."""
    if value.strip().lower() in ("forever", "none"):
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(
            f"{value!r}: a number of seconds (0: fail at once) or 'forever'"
        )
    return seconds


HISTORY_LIMIT_RULE = "a whole number of syncs, 1 or more"


def at_least_one(value: str) -> int:
    """``--history-limit``: a whole number of syncs, 1 or more."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: {HISTORY_LIMIT_RULE}")
    return number


@contextlib.contextmanager
def lock_waits_shown(stream, enabled: bool):
    """Say on ``stream`` when the sync waits for another one (synctool.lock's log)."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("synctool.lock")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


SHOWN_FAILURES = 5


def failure_lines(failed: list, route: str | None = None) -> list[str]:
    """Media failures summarised per reason: how many and the first few names;
    ``route`` names the route they belong to (when the command has several)."""
    by_reason: dict[str, list[str]] = {}
    for failure in failed:
        # "https://cdn/media/x.jpg answered HTTP 404" -> "answered HTTP 404"
        reason = failure.reason
        if " answered " in reason:
            reason = "answered " + reason.split(" answered ", 1)[1]
        by_reason.setdefault(reason, []).append(failure.name)
    where = f" ({route})" if route else ""
    lines = []
    for reason, names in by_reason.items():
        shown = ", ".join(names[:SHOWN_FAILURES])
        more = f" and {len(names) - SHOWN_FAILURES} more" if len(names) > SHOWN_FAILURES else ""
        lines.append(f"media failed{where}: {len(names)} file(s): {reason}: {shown}{more}")
    return lines


def media_url_hint(media_url: str | None) -> str:
    """Where the files came from, and what changes it: the media URL, or the
    plugins that fetch them (the S3 plugin reads a bucket of its settings)."""
    url = f"media URL: {media_url or '(none)'}; --media-url (SYNCTOOL_MEDIA_URL) sets another"
    plugins = media_fetchers()
    if not plugins:
        return url
    return (
        f"media files are fetched by {', '.join(plugins)} (fetch_media; its settings say "
        f"from where), the files it passes on from the {url}"
    )


def media_failure_lines(failed: list, media_url: str | None) -> list[str]:
    """Media failures summarised, then the media URL with the option that changes it."""
    return [*failure_lines(failed), media_url_hint(media_url)]


def notes_of(results: list[SyncResult]) -> list[str]:
    """The schema gate's notes, the values left out and the rows that came as
    parents, once each."""
    lines = list(dict.fromkeys(note for result in results for note in result.notes))
    for result in results:
        came = [
            f"{label} {result.models[label].received:,}"
            for label in result.parents
            if label in result.models and result.models[label].received
        ]
        if came:
            lines.append(
                "rows that came as parents of the route's rows (what they reference, and "
                "subtype rows; written, never cleaned): " + ", ".join(came)
            )
    for result in results:
        for key, count in result.dropped.items():
            what = "objects" if key.count(".") == 1 else "values"
            lines.append(f"{count} {what} of {key} left out (--ignore-unknown)")
    return lines


def format_summary(results: list[SyncResult]) -> str:
    """A plain-text table: model, received, written, deleted, seconds, and for an
    incremental sync how each model went (``content``, ``full``, ``merge``).

    With several routes, a first column names the route of each row (two
    routes may carry the same model). The total's seconds are the command's
    wall time.
    """
    several = len(results) > 1
    incremental = any(result.modes for result in results)
    header = ("model", "received", "written", "deleted", "seconds")
    rows = [(("route",) if several else ()) + header + (("mode",) if incremental else ())]
    for result in results:
        for label, counts in result.models.items():
            row = (
                label,
                str(counts.received),
                str(counts.written),
                str(counts.deleted),
                f"{counts.seconds:.2f}",
            )
            rows.append(
                ((result.route,) if several else ())
                + row
                + ((result.modes.get(label, ""),) if incremental else ())
            )
    total = (
        "total",
        str(sum(r.received for r in results)),
        str(sum(r.written for r in results)),
        str(sum(r.deleted for r in results)),
        f"{max((r.seconds for r in results), default=0.0):.2f}",
    )
    rows.append((("",) if several else ()) + total + (("",) if incremental else ()))
    rows = [tuple(printable(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    numbers = range(2, 6) if several else range(1, 5)
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(width) if column in numbers else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0 or index == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def media_line(result: SyncResult) -> str:
    """``media blogs: 36 downloaded, 0 skipped, 0 failed``: one route's media step."""
    media = result.media
    return (
        f"media {result.route}: {media.downloaded} downloaded, {media.skipped} skipped, "
        f"{len(media.failed)} failed"
    )


def media_history_text(run: SyncRun) -> str:
    """``36 downloaded, 3 failed (posts/a.jpg: answered HTTP 404; ...)``: a
    run's media step, with the first failures its record names."""
    text = run.media_text
    failures = run.media.get("failures", ())
    named = [f"{failure['name']}: {failure['reason']}" for failure in failures]
    if named:
        more = run.media.get("failed", 0) - SHOWN_FAILURES
        text += " (" + "; ".join(named[:SHOWN_FAILURES]) + (f"; {more} more)" if more > 0 else ")")
    return text


def with_outcome(exc: SynctoolError, dry_run: bool) -> str:
    """A failed sync's message, saying what became of the local database
    when it does not already (a connection cut mid-body: was anything
    written?)."""
    message = str(exc)
    if exc.committed or dry_run or "othing was written" in message:
        return message
    message = message.rstrip()
    if not message.endswith((".", "!", "?", ")")):
        message += "."
    if not exc.rolled_back:
        return f"{message} Nothing was written."
    return f"{message} Nothing was written (the sync's transaction was rolled back)."


def wrapped(text: str, width: int, first: str, then: str) -> list[str]:
    """``text`` (labels separated by ", ") in lines of ``width`` columns, the
    first starting with ``first``, the others indented by ``then``; a label is
    never cut (one longer than a line has a line of its own), and ``first``
    stands alone when not even the first label fits after it."""
    lead: list[str] = []
    if len(first) + len(text.split(" ", 1)[0]) > width:
        lead, first = [first.rstrip()], then
    return lead + textwrap.wrap(
        text,
        width=width,
        initial_indent=first,
        subsequent_indent=then,
        break_long_words=False,
        break_on_hyphens=False,
    )


def format_history(runs: list) -> list[str]:
    """The history of syncs as a table, newest first, with each failure's error."""
    if not runs:
        return ["no syncs recorded"]
    rows = [
        (
            "started", "route", "database", "status", "rows", "bytes", "wire", "seconds",
            "kind", "host", "by",
        )
    ]  # fmt: skip
    for run in runs:
        kind = "incremental" if run.incremental else ("clean" if run.clean else "merge")
        seconds = run.seconds
        by = f"{run.origin}:{run.task_id[:8]}" if run.task_id else run.origin
        rows.append(
            (
                f"{run.started:%Y-%m-%d %H:%M:%S}",
                run.route,
                run.database,
                run.status,
                run.rows_text,
                str(run.bytes_received),
                str(run.bytes_on_wire),
                "" if seconds is None else f"{seconds:.2f}",
                kind,
                run.host or "?",
                by,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    out = []
    for index, line in enumerate(lines):
        out.append(line)
        run = runs[index - 2] if index >= 2 else None
        if run is not None and run.error:
            out.append(f"    error: {run.error.splitlines()[0][:300]}")
        if run is not None and run.media_text:
            out.append(f"    media: {media_history_text(run)}")
    return out


# What a sync does, and the commands that do something else instead of a sync.
HISTORY_LIMIT = 20  # syncs --history shows by default
SYNC_OPTIONS = ("clean", "incremental", "images", "files", "no_reset", "dry_run", "verify_after")
OTHER_COMMANDS = ("list", "history", "check", "verify")


def refuse_mixed_options(options: dict) -> None:
    """``--verify --clean`` would only verify: say so instead of ignoring ``--clean``."""
    chosen = [name for name in OTHER_COMMANDS if options.get(name)]
    if len(chosen) > 1:
        raise CommandError(f"--{chosen[0]} and --{chosen[1]} do not go together: choose one")
    if options.get("verify_after") and options.get("dry_run"):
        raise CommandError(
            "--verify-after compares what a sync committed and --dry-run commits nothing: "
            "drop one (--verify compares the copy as it is)"
        )
    ignored = [name for name in SYNC_OPTIONS if options.get(name)]
    if chosen and ignored:
        hint = " (--verify-after syncs, then verifies)" if chosen[0] == "verify" else ""
        raise CommandError(
            f"--{chosen[0]} syncs nothing, so "
            + ", ".join("--" + name.replace("_", "-") for name in ignored)
            + f" would be ignored: drop {'it' if len(ignored) == 1 else 'them'}{hint}"
        )
    limit = options.get("history_limit")
    if limit is not None and not options.get("history"):
        raise CommandError("--history-limit goes with --history, which this command lacks")
    if limit is not None and (type(limit) is not int or limit < 1):  # call_command() passes it raw
        raise CommandError(f"--history-limit {limit!r}: {HISTORY_LIMIT_RULE}")
    if options.get("list") and options.get("routes"):
        raise CommandError("--list lists every route of the server: drop the ROUTE names")


class Command(BaseCommand):
    help = "Pull one or more synctool routes from the server into the local database."

    def add_arguments(self, parser):
        parser.add_argument("routes", nargs="*", metavar="ROUTE", help="route paths to sync")
        parser.add_argument(
            "--clean", action="store_true", help="delete the local rows of the routes' models first"
        )
        parser.add_argument(
            "--incremental",
            action="store_true",
            help="move only the rows inserted, changed or deleted on the server since the last "
            "incremental sync of each route into this database (the first one is full)",
        )
        parser.add_argument(
            "--verify",
            action="store_true",
            help="only compare the local rows of each ROUTE with the server's rows as sent, "
            "writing nothing; exit status 1 when any differ",
        )
        parser.add_argument(
            "--verify-after",
            action="store_true",
            help="sync, then compare the copy with the server's rows as --verify does "
            "(exit status 1 when any differ)",
        )
        parser.add_argument(
            "--history",
            action="store_true",
            help="show the history of syncs into --database (of the ROUTEs named, else all), "
            "then stop",
        )
        parser.add_argument(
            "--history-limit",
            type=at_least_one,
            default=None,
            metavar="N",
            help="how many syncs --history shows, newest first (default: 20)",
        )
        parser.add_argument(
            "--lock-timeout",
            type=lock_timeout,
            default=FROM_SETTINGS,
            metavar="SECONDS",
            help="wait this long for another sync into the database to finish (0: fail at "
            "once; 'forever'); default: SYNCTOOL_SYNC_LOCK_TIMEOUT",
        )
        parser.add_argument(
            "--images",
            action="store_true",
            help="download the ImageField files of the synced objects",
        )
        parser.add_argument(
            "--files", action="store_true", help="download every other FileField file too"
        )
        parser.add_argument(
            "--no-reset", action="store_true", help="do not reset primary-key sequences afterwards"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="download and validate everything, write nothing"
        )
        parser.add_argument(
            "--database",
            default="default",
            help="the database alias to sync into (default: 'default')",
        )
        parser.add_argument("--endpoint", help="server base URL (SYNCTOOL_CLIENT_ENDPOINT)")
        parser.add_argument("--token", help="API token (SYNCTOOL_CLIENT_TOKEN)")
        parser.add_argument("--media-url", help="media base URL (SYNCTOOL_MEDIA_URL)")
        parser.add_argument(
            "--list",
            action="store_true",
            help="list the server's routes and their models, then stop",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="only check that this code and database can take the routes (exit status 0 "
            "or 1); nothing is downloaded or written",
        )
        parser.add_argument(
            "--ignore-unknown",
            action="store_true",
            help="leave out the models and fields the server sends that this code does not "
            "have, instead of refusing",
        )
        parser.add_argument(
            "--allow",
            action="append",
            default=[],
            metavar="LABEL",
            help="also allow writing this model or app (repeatable; see SYNCTOOL_CLIENT_ALLOW)",
        )
        parser.add_argument(
            "--ca-bundle",
            metavar="PATH",
            help="verify the server's TLS certificate against this CA bundle (a self-signed "
            "certificate; SYNCTOOL_CLIENT_VERIFY)",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="never ask for confirmation (before a clean much larger than what arrives)",
        )

    def handle(self, *args, **options):
        if options["ca_bundle"]:
            if not os.path.isfile(options["ca_bundle"]):
                raise CommandError(f"--ca-bundle {options['ca_bundle']}: no such file")
            # Read by every session of this command (routes and media).
            previous = settings.SYNCTOOL_CLIENT_VERIFY
            settings.SYNCTOOL_CLIENT_VERIFY = options["ca_bundle"]
            try:
                return self._handle(options)
            finally:
                settings.SYNCTOOL_CLIENT_VERIFY = previous
        return self._handle(options)

    def _handle(self, options):
        client = Client(
            api_token=options["token"],
            api_url=options["endpoint"],
            media_url=options["media_url"],
        )
        verbosity = options["verbosity"]
        refuse_mixed_options(options)
        if options["database"] not in connections.settings:
            known = ", ".join(repr(alias) for alias in connections.settings)
            raise CommandError(
                f"--database {options['database']!r}: no such database in DATABASES "
                f"(it has {known})"
            )
        try:
            if client.api_url:
                warning = plain_http_warning(client.url_for(""))
                if warning is not None:
                    self.stderr.write(f"warning: {warning}")
            if options["list"]:
                self._list(client)
                return
            if options["history"]:
                self._history(options)
                return
            if not options["routes"]:
                raise CommandError("name at least one route, or use --list")
            if options["check"]:
                self._check(client, options)
                return
            if options["verify"]:
                self._verify(client, options)
                return
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PlainHTTPWarning)  # said above
                try:
                    results = self._sync_all(client, options, verbosity)
                except SynctoolError as exc:
                    raise CommandError(with_outcome(exc, options["dry_run"])) from None
        except SynctoolError as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt as exc:
            # One line, as any failure; 130 as a shell gives a process stopped by SIGINT.
            raise CommandError(
                "interrupted: "
                + (
                    "the rows were committed; media files not fetched yet are missing"
                    if getattr(exc, "committed", False)
                    else "nothing was written (the sync's transaction was rolled back)"
                ),
                returncode=130,
            ) from None
        if verbosity > 0:
            self.stdout.write(format_summary(results))
            for line in notes_of(results):
                self.stdout.write(f"note: {printable(line)}")
            for result in results:
                if result.media:
                    self.stdout.write(printable(media_line(result)))
        failing = [r for r in results if r.media and r.media.failed]
        if failing:
            for result in failing:
                route = result.route if len(results) > 1 else None
                for line in failure_lines(result.media.failed, route):
                    self.stderr.write(printable(line))
            self.stderr.write(printable(media_url_hint(client.media_url)))
            failed = sum(len(r.media.failed) for r in failing)
            raise CommandError(f"{failed} media file(s) could not be fetched")
        if options["dry_run"] and verbosity > 0:
            self.stdout.write("dry run: nothing was written")
        if options["verify_after"] and not options["dry_run"]:
            self._report_verdicts(
                {route: r.verdicts for route, r in zip(options["routes"], results, strict=True)},
                synced=True,
            )

    def _progress(self, routes: list[str], verbosity: int) -> SyncProgress | None:
        """Status lines on a terminal, plain lines elsewhere; nothing with -v 0."""
        if verbosity < 1:
            return None
        stderr = self.stderr

        def write(text: str) -> None:
            stderr.write(text, style_func=lambda text: text, ending="")
            stderr.flush()

        if stderr.isatty():
            screen = LiveLines(write, width=lambda: terminal_width(stderr))
        else:
            screen = PlainLines(write)
        return SyncProgress(routes, screen, verbosity)

    def _sync_all(self, client, options, verbosity) -> list[SyncResult]:
        """Every route of the command in one transaction: all of them or nothing."""
        progress = self._progress(options["routes"], verbosity)
        counting = (
            connections[options["database"]].execute_wrapper(progress.count_query)
            if progress is not None and verbosity >= 3
            else contextlib.nullcontext()
        )
        try:
            with started_by(COMMAND), lock_waits_shown(self.stderr, verbosity > 0), counting:
                return self._sync_many(client, options, progress)
        finally:
            if progress is not None:
                progress.close()

    def _sync_many(self, client, options, progress) -> list[SyncResult]:
        return client.sync_many(
            options["routes"],
            clean=options["clean"],
            reset=not options["no_reset"],
            images=options["images"],
            files=options["files"],
            using=options["database"],
            dry_run=options["dry_run"],
            ignore_unknown=options["ignore_unknown"],
            allow=allowed_labels(options["allow"]),
            confirm_clean=self._confirm if options["interactive"] and sys.stdin.isatty() else None,
            progress=progress,
            incremental=options["incremental"],
            verify=options["verify_after"],
            lock_timeout=options["lock_timeout"],
        )

    def _confirm(self, deleting: dict[str, int], expected: dict[str, int]) -> bool:
        """Ask, like ``flush``, before a clean far larger than what the server sends."""
        lines = [
            f"  {label}: {rows} local rows, {expected.get(label, 0)} coming"
            for label, rows in deleting.items()
            if rows
        ]
        self.stderr.write(
            f"--clean would delete {sum(deleting.values())} local rows; the server announces "
            f"{sum(expected.values())}:\n" + "\n".join(lines)
        )
        answer = input("Type 'yes' to continue, or anything else to cancel: ")
        return answer.strip().lower() == "yes"

    def _check(self, client: Client, options) -> None:
        report = client.check(
            options["routes"],
            using=options["database"],
            ignore_unknown=options["ignore_unknown"],
            allow=allowed_labels(options["allow"]),
        )
        for line in report.notes:
            self.stdout.write(f"note: {printable(line)}")
        if not report.ok:
            raise CommandError(
                "this database cannot take these routes now:\n"
                + "\n".join(f"  - {line}" for line in report.refusals)
            )
        self.stdout.write("ok: this database can take these routes")

    def _verify(self, client: Client, options) -> None:
        self._report_verdicts(
            {
                route: client.verify(
                    route, using=options["database"], ignore_unknown=options["ignore_unknown"]
                )
                for route in options["routes"]
            },
            synced=False,
        )

    def _report_verdicts(self, verdicts_by_route: dict, *, synced: bool) -> None:
        """Print each route's verdicts; CommandError when a compared model differs."""
        different = []
        for route, verdicts in verdicts_by_route.items():
            self.stdout.write(printable(f"verify {route}:"))
            for label, verdict in verdicts.items():
                self.stdout.write(printable("  " + verdict_line(label, verdict)))
                if verdict.compared and not verdict.equal:
                    different.append(f"{route}: {label}")
            if verdicts and not any(verdict.compared for verdict in verdicts.values()):
                self.stderr.write(
                    printable(f"note: no model of {route} could be compared (see above why)")
                )
        if different:
            raise CommandError(
                ("the sync was committed, but " if synced else "")
                + "the local copy differs from the server's: "
                + ", ".join(different)
                + " (sync_data ROUTE --clean, or --incremental, brings it back)"
            )

    def _history(self, options) -> None:
        using = options["database"]
        if not history_table_ready(using):
            raise CommandError(
                f"database {using!r} has no history of syncs: run "
                f"`manage.py migrate synctool --database {using}`"
            )
        limit = options["history_limit"] or HISTORY_LIMIT
        runs = SyncRun.objects.using(using).all()
        if options["routes"]:
            runs = runs.filter(
                route__in=[
                    spelling for route in options["routes"] for spelling in route_spellings(route)
                ]
            )
        lines = format_history(list(runs[:limit]))
        for line in lines:
            self.stdout.write(printable(line))

    def _list(self, client: Client) -> None:
        manifest = client.manifest()
        where = safe_url(client.api_url or "")
        self.stdout.write(printable(f"synctool {manifest.get('synctool', '?')} at {where}"))
        width = max(terminal_width(self.stdout), 40)
        for route in manifest.get("routes", []):
            models = route.get("models")
            shown = ", ".join(models) if models else "(depends on the URL arguments)"
            lines = wrapped(shown, width, f"  {route['path']}  [{route['kind']}]  ", " " * 6)
            if route.get("parents"):
                parents = ", ".join(str(label) for label in route["parents"])
                lines += wrapped(parents, width, "      with the rows they reference of: ", " " * 8)
            if route.get("generic"):
                generic = ", ".join(str(label) for label in route["generic"])
                lines += wrapped(generic, width, "      and the rows named by id in: ", " " * 8)
            for line in lines:
                self.stdout.write(printable(line))
