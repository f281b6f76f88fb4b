"""What ``sync_data`` shows while it works, from ``Client.sync(progress=...)``'s events.

On a terminal, one status line per route, redrawn in place
(:mod:`synctool.client.screen`): its phase (clean, load, check, media), the
model being loaded with its rows against the rows the server announced, the
megabytes received and an ETA; when the route is done, what each phase took.
Elsewhere (a log, cron, CI), one plain line per model when its load ends and
one per route's media step. ``--verbosity 2`` prints a line per model and
phase with its timing (clean and check too), ``3`` adds one per batch written
and the database queries of each model, batch and check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from synctool.client.screen import LiveLines, PlainLines
from synctool.result import Progress
from synctool.text import printable

Key = tuple[str, str, str]  # (route, stage, model)

# A rate is shown for a model that took at least this long (seconds): the rate
# of 8 rows written in a millisecond says nothing.
MEASURED = 0.1


def plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def duration(seconds: float) -> str:
    """``0.04 s``, ``9.8 s``, ``2 min 5 s``."""
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def clock_time(seconds: float) -> str:
    """An ETA as a clock shows it: ``0:05``, ``12:40``, ``1:02:03``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def eta(done: int, total: int | None, elapsed: float) -> float | None:
    """Seconds left at the rate so far; None when it cannot be told."""
    if not total or done <= 0 or done >= total or elapsed <= 0:
        return None
    return (total - done) * elapsed / done


@dataclass
class Tally:
    """One stage of one model of one route: what it did and what it cost."""

    count: int = 0
    seconds: float = 0.0
    batches: int = 0
    queries: int = 0


@dataclass
class RouteState:
    """A route's status line."""

    name: str
    phase: str = "waiting"  # waiting, clean, load, check, media, done
    model: str = ""
    count: int = 0
    total: int | None = None
    estimated: bool = False
    started: float = 0.0  # when the current model's stage started
    megabytes: float = 0.0
    clean_seconds: float | None = None
    load_started: float | None = None
    load_seconds: float | None = None
    media: tuple[int, int] | None = None  # (handled, total)
    media_started: float = 0.0
    media_seconds: float | None = None
    loaded: dict[str, int] = field(default_factory=dict)

    def line(self, width: int, now: float, room: int = 0) -> str:
        """The status line: the name in a column ``width`` wide, what each phase
        done took, the phase at work. When it is longer than ``room`` (the
        terminal's width), the phase at work alone."""
        done, current = [], None
        if self.clean_seconds is not None and self.phase != "clean":
            done.append(f"clean {duration(self.clean_seconds)}")
        if self.load_seconds is not None:
            rows = sum(self.loaded.values())
            done.append(f"load {rows:,} rows in {duration(self.load_seconds)}")
        if self.phase == "clean":
            current = f"clean {self.model}".rstrip()
        elif self.phase == "load":
            current = self._loading(now)
        elif self.phase == "check":
            current = "check"
        if self.media is not None:
            handled, total = self.media
            if self.media_seconds is not None:
                done.append(f"media {total:,} files in {duration(self.media_seconds)}")
            else:
                left = eta(handled, total, now - self.media_started)
                shown = f", ETA {clock_time(left)}" if left is not None else ""
                current = f"media {handled:,}/{total:,} files{shown}"
        parts = [*done, current] if current else done or ["waiting"]
        text = f"{self.name.ljust(width)}  {', '.join(parts)}"
        if current and room and len(text) >= room:
            text = f"{self.name.ljust(width)}  {current}"
        return printable(text)

    def _loading(self, now: float) -> str:
        if not self.model:
            return "load (waiting for the server)"
        rows = f"{self.count:,}"
        if self.total is not None:
            rows += f"/{'~' if self.estimated else ''}{self.total:,}"
        text = f"load {self.model} {rows} rows, {self.megabytes:.1f} MB"
        left = eta(self.count, self.total, now - self.started)
        if left is not None:
            text += f", ETA {'~' if self.estimated else ''}{clock_time(left)}"
        return text


class SyncProgress:
    """Turns :class:`~synctool.result.Progress` events into status lines and log lines.

    :param routes: the routes of the sync, as named (one status line each).
    :param screen: a :class:`~synctool.client.screen.LiveLines` on a terminal,
        else a :class:`~synctool.client.screen.PlainLines`.
    :param verbosity: the command's ``--verbosity`` (1, 2 or 3).
    """

    def __init__(
        self,
        routes: list[str],
        screen: LiveLines | PlainLines,
        verbosity: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.routes = {name: RouteState(name) for name in routes}
        self.width = min(max((len(name) for name in routes), default=0), 30)
        self.screen = screen
        self.verbosity = verbosity
        self.clock = clock
        self.tallies: dict[Key, Tally] = {}
        self.current: Key | None = None  # where the queries run now go
        self.batch_queries = 0
        self.started = False  # nothing is drawn before the first event

    # -- events -----------------------------------------------------------

    def __call__(self, event: Progress) -> None:
        self.started = True
        handler = getattr(self, f"_{event.stage}", None)
        if handler is not None:
            handler(event, self.routes.get(event.route))

    def _tally(self, event: Progress) -> Tally:
        key = (event.route, event.stage, event.model)
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = Tally()
        return tally

    def _begin(self, event: Progress, route: RouteState) -> None:
        self.current = (event.route, event.stage, event.model)
        self.batch_queries = 0
        self._tally(event)
        route.phase, route.model, route.started = event.stage, event.model, self.clock()
        route.count, route.total, route.estimated = event.count, event.total, event.estimated
        self._draw(force=True)

    def _clean(self, event: Progress, route: RouteState | None) -> None:
        if route is None:
            return
        if not event.done:
            self._begin(event, route)
            return
        tally = self._tally(event)
        tally.count += event.count
        tally.seconds += event.seconds
        route.clean_seconds = (route.clean_seconds or 0.0) + event.seconds
        route.phase, route.model = "waiting", ""
        if self.verbosity >= 2:
            self._print(
                f"{event.route}: {event.model} {plural(event.count, 'row', 'rows')} deleted in "
                f"{duration(event.seconds)}{self._details(tally)}"
            )
        self._draw(force=True)

    def _load(self, event: Progress, route: RouteState | None) -> None:
        if route is None:
            return
        self._finish_loads(but=route)
        if route.load_started is None:
            route.load_started = self.clock()
        route.megabytes = max(route.megabytes, event.bytes_received / 1e6)
        if event.done:
            self._loaded(event, route)
        elif event.batch:
            self._batch(event, route)
        elif route.phase != "load" or event.model != route.model:
            self._begin(event, route)
        else:
            route.count = max(route.count, event.count)
            self._draw()

    def _batch(self, event: Progress, route: RouteState) -> None:
        tally = self._tally(event)
        tally.batches += 1
        if event.model == route.model:
            route.count = max(route.count, event.count)
        if self.verbosity >= 3:
            rows = plural(event.batch, "row", "rows")
            queries = plural(self.batch_queries, "query", "queries")
            self._print(
                f"{event.route}: {event.model} batch of {rows} written in "
                f"{duration(event.seconds)} ({queries})"
            )
        self.batch_queries = 0
        self._draw()

    def _loaded(self, event: Progress, route: RouteState) -> None:
        tally = self._tally(event)
        tally.count = event.count
        tally.seconds += event.seconds
        route.loaded[event.model] = event.count
        route.count = event.count
        if self.verbosity >= 2 or not self.screen.live:
            details = []
            if self.verbosity >= 2 and event.seconds >= MEASURED:
                details.append(f"{event.count / event.seconds:,.0f} rows/s")
            self._print(
                f"{event.route}: {event.model} {plural(event.count, 'row', 'rows')} in "
                f"{duration(event.seconds)}{self._details(tally, details)}"
            )
        self._draw()

    def _finish_loads(self, but: RouteState | None = None) -> None:
        """Routes are loaded one after the other: another route's load, or the
        check, ends the load of the route before."""
        for route in self.routes.values():
            if route is not but and route.phase == "load":
                route.load_seconds = self.clock() - (route.load_started or self.clock())
                route.phase, route.model = "waiting", ""

    def _check(self, event: Progress, route: RouteState | None) -> None:
        if not event.done:
            self._finish_loads()
            self.current = ("", "check", "")
            self._tally(event)
            for state in self.routes.values():
                state.phase = "check"
            self._draw(force=True)
            return
        tally = self._tally(event)
        tally.seconds += event.seconds
        for state in self.routes.values():
            state.phase = "done"
        if self.verbosity >= 2:
            self._print(
                f"check: constraints, references, sequences and commit of every route in "
                f"{duration(event.seconds)}{self._details(tally)}"
            )
        self._draw(force=True)

    def _media(self, event: Progress, route: RouteState | None) -> None:
        if route is None:
            return
        total = event.total or 0
        if event.model == "" and not event.done:
            route.phase, route.media_started = "media", self.clock()
        route.media = (event.count, total)
        if not event.done:
            self._draw(force=event.model == "")
            return
        route.media_seconds, route.phase = event.seconds, "done"
        if self.verbosity >= 2 or not self.screen.live:
            self._print(
                f"{event.route}: {total:,} media files handled in {duration(event.seconds)}"
            )
        self._draw(force=True)

    # -- queries (--verbosity 3) -------------------------------------------

    def count_query(self, execute, sql, params, many, context):
        """A ``connection.execute_wrapper``: counts each query for the model at work."""
        if self.current is not None:
            tally = self.tallies.get(self.current)
            if tally is not None:
                tally.queries += 1
            self.batch_queries += 1
        return execute(sql, params, many, context)

    def _details(self, tally: Tally, details: list[str] | None = None) -> str:
        """`` (21,099 rows/s, 101 batches, 1,012 queries)``: the batches and queries
        with --verbosity 3."""
        details = list(details or [])
        if self.verbosity >= 3:
            if tally.batches:
                details.append(plural(tally.batches, "batch", "batches"))
            details.append(plural(tally.queries, "query", "queries"))
        return f" ({', '.join(details)})" if details else ""

    # -- output -------------------------------------------------------------

    def _print(self, text: str) -> None:
        self.screen.print(printable(text))

    def _draw(self, force: bool = False) -> None:
        if self.screen.live:
            now, room = self.clock(), self.screen.width()
            self.screen.show(
                [route.line(self.width, now, room) for route in self.routes.values()],
                force=force,
            )

    def close(self) -> None:
        """The status lines as they end (they stay on the terminal; after a
        failure, as it found them; nothing when it failed before the first)."""
        if self.started:
            self._draw(force=True)
        self.screen.close()
