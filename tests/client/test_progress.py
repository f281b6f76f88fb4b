"""What sync_data shows while it works: status lines redrawn in place on a
terminal (rendered here by tests/terminal.py), plain lines elsewhere, and
what each verbosity adds. The events are those the loader and the media
step send (tests/client/test_api.py checks that they do)."""

import io
import itertools

import pytest

from synctool.client.progress import SyncProgress, clock_time, duration
from synctool.client.screen import LiveLines, PlainLines
from synctool.result import Progress
from tests.terminal import render


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def live(width: int = 100, clock=None):
    out = io.StringIO()
    screen = LiveLines(out.write, width=lambda: width, clock=clock or Clock())
    return screen, out


def test_durations_and_etas_read_as_people_write_them():
    assert duration(0.004) == "0.00 s"
    assert duration(0.31) == "0.31 s"
    assert duration(9.84) == "9.8 s"
    assert duration(125) == "2 min 5 s"
    assert clock_time(5.2) == "0:05"
    assert clock_time(760) == "12:40"
    assert clock_time(3723) == "1:02:03"


def test_live_lines_are_redrawn_where_they_are():
    clock = Clock()
    screen, out = live(clock=clock)
    screen.show(["blogs  load 10 rows", "tags   waiting"], force=True)
    screen.show(["blogs  load 20 rows", "tags   waiting"], force=True)
    assert render(out.getvalue()) == ["blogs  load 20 rows", "tags   waiting"]
    # A permanent line goes above the status lines, which stay at the bottom.
    screen.print("blogs: testapp.post 20 rows in 0.10 s")
    screen.show(["blogs  load 20 rows in 0.10 s", "tags   load 5 rows"], force=True)
    screen.close()
    assert render(out.getvalue()) == [
        "blogs: testapp.post 20 rows in 0.10 s",
        "blogs  load 20 rows in 0.10 s",
        "tags   load 5 rows",
    ]


def test_live_lines_are_redrawn_at_most_ten_times_a_second_unless_forced():
    clock = Clock()
    screen, out = live(clock=clock)
    screen.show(["one"])
    screen.show(["two"])
    assert render(out.getvalue()) == ["one"]
    clock.now += 0.15
    screen.show(["three"])
    assert render(out.getvalue()) == ["three"]
    screen.show(["four"], force=True)
    assert render(out.getvalue()) == ["four"]
    screen.show(["five"])
    screen.close()  # the last lines are drawn when it ends
    assert render(out.getvalue()) == ["five"]


def test_status_lines_never_wrap_on_a_narrow_terminal():
    screen, out = live(width=20)
    screen.show(["x" * 50, "y" * 50], force=True)
    screen.show(["a" * 50, "b" * 50], force=True)
    screen.close()
    assert render(out.getvalue(), width=20) == ["a" * 19, "b" * 19]


def test_plain_lines_write_only_the_permanent_lines():
    out = io.StringIO()
    screen = PlainLines(out.write)
    screen.show(["blogs  load 10 rows"], force=True)
    screen.print("blogs: testapp.post 10 rows in 0.10 s")
    screen.close()
    assert out.getvalue() == "blogs: testapp.post 10 rows in 0.10 s\n"


def load_events(clock, route="blogs", posts=1200, estimated=False):
    """What the loader sends for one route: its start, then each model's (the
    posts bring a megabyte)."""
    yield Progress("load", "", 0, route=route)
    for model, rows in (("testapp.tag", 2), ("testapp.post", posts)):
        total = 1000 if model == "testapp.post" and estimated else rows
        start = dict(route=route, total=total, estimated=estimated and model == "testapp.post")
        megabyte = 1_000_000 if model == "testapp.post" else 0
        yield Progress("load", model, 0, **start)
        clock.now += 1.0
        half = rows // 2
        yield Progress("load", model, half, megabyte // 2, batch=half, seconds=0.2, **start)
        clock.now += 1.0
        yield Progress("load", model, rows, megabyte, done=True, seconds=2.0, **start)


def sync_events(clock, screen_lines=None):
    """A whole sync of two routes, with clean and media; ``screen_lines`` is
    called at a few moments to look at the screen."""
    look = screen_lines or (lambda moment: None)
    yield Progress("clean", "testapp.post", 0, route="blogs")
    clock.now += 0.02
    yield Progress("clean", "testapp.post", 7, route="blogs", done=True, seconds=0.02)
    for event in load_events(clock):
        yield event
        if event.batch and event.model == "testapp.post":
            look("blogs half loaded")
    for event in load_events(clock, route="tags", posts=4):
        yield event
    yield Progress("check", "", 0)
    look("check")
    clock.now += 0.1
    yield Progress("check", "", 0, done=True, seconds=0.1)
    yield Progress("media", "", 0, route="blogs", total=3)
    yield Progress("media", "testapp.post", 1, route="blogs", total=3)
    clock.now += 0.5
    yield Progress("media", "", 3, route="blogs", total=3, done=True, seconds=0.5)


def test_one_status_line_per_route_with_totals_eta_and_phase():
    clock = Clock()
    screen, out = live(clock=clock)
    progress = SyncProgress(["blogs", "tags"], screen, verbosity=1, clock=clock)
    seen = {}

    def look(moment):
        seen[moment] = render(out.getvalue())

    for event in sync_events(clock, look):
        progress(event)
    progress.close()
    # While a route loads: the model at work, its rows against the server's
    # total, the megabytes, the ETA (600 rows in 1 s, 600 to go); the models
    # already loaded are not shown at all.
    assert seen["blogs half loaded"] == [
        "blogs  clean 0.02 s, load testapp.post 600/1,200 rows, 0.5 MB, ETA 0:01",
        "tags   waiting",
    ]
    assert seen["check"] == [
        "blogs  clean 0.02 s, load 1,202 rows in 4.0 s, check",
        "tags   load 6 rows in 4.0 s, check",
    ]
    # What stays on screen: one line per route, each phase with its time.
    assert render(out.getvalue()) == [
        "blogs  clean 0.02 s, load 1,202 rows in 4.0 s, media 3 files in 0.50 s",
        "tags   load 6 rows in 4.0 s",
    ]


def test_an_estimated_total_says_so_and_no_eta_once_it_is_passed():
    clock = Clock()
    screen, out = live(clock=clock)
    progress = SyncProgress(["blogs"], screen, clock=clock)
    # testapp.post half loaded: 200 of ~1000 in a second.
    for event in itertools.islice(load_events(clock, posts=400, estimated=True), 6):
        progress(event)
    progress.close()
    assert render(out.getvalue()) == [
        "blogs  load testapp.post 200/~1,000 rows, 0.5 MB, ETA ~0:04",
    ]
    screen, out = live(clock=clock)
    progress = SyncProgress(["blogs"], screen, clock=clock)
    events = itertools.islice(load_events(clock, posts=400, estimated=True), 5)
    for event in [*events, Progress("load", "testapp.post", 1500, route="blogs", total=1000)]:
        progress(event)
    progress.close()
    assert render(out.getvalue()) == ["blogs  load testapp.post 1,500/~1,000 rows, 0.0 MB"]


def plain_output(verbosity: int, queries: int = 0) -> list[str]:
    """What a sync prints where stderr is not a terminal; ``queries`` run at
    each event (as if the database were asked)."""
    clock = Clock()
    out = io.StringIO()
    progress = SyncProgress(["blogs", "tags"], PlainLines(out.write), verbosity, clock=clock)
    for event in sync_events(clock):
        progress(event)
        for _ in range(queries):
            progress.count_query(lambda *args: None, "SELECT 1", None, False, {})
    progress.close()
    return out.getvalue().splitlines()


def test_not_on_a_terminal_a_plain_line_per_model_and_per_media_step():
    assert plain_output(verbosity=1) == [
        "blogs: testapp.tag 2 rows in 2.0 s",
        "blogs: testapp.post 1,200 rows in 2.0 s",
        "tags: testapp.tag 2 rows in 2.0 s",
        "tags: testapp.post 4 rows in 2.0 s",
        "blogs: 3 media files handled in 0.50 s",
    ]


def test_verbosity_2_lists_every_model_and_phase_with_timings():
    lines = plain_output(verbosity=2)
    assert lines[0] == "blogs: testapp.post 7 rows deleted in 0.02 s"
    assert "blogs: testapp.post 1,200 rows in 2.0 s (600 rows/s)" in lines
    assert lines[-2] == (
        "check: constraints, references, sequences and commit of every route in 0.10 s"
    )
    assert len(lines) == 7


def test_verbosity_3_adds_batches_and_queries():
    lines = plain_output(verbosity=3, queries=2)
    assert "blogs: testapp.post batch of 600 rows written in 0.20 s (2 queries)" in lines
    # Queries count for the model at work (from its start to its end).
    assert "blogs: testapp.post 1,200 rows in 2.0 s (600 rows/s, 1 batch, 4 queries)" in lines
    assert "blogs: testapp.post 7 rows deleted in 0.02 s (2 queries)" in lines
    assert lines[-2].endswith("in 0.10 s (2 queries)")


@pytest.mark.parametrize("verbosity", [1, 2, 3])
def test_text_from_the_server_cannot_move_the_cursor(verbosity):
    out = io.StringIO()
    progress = SyncProgress(["blogs"], PlainLines(out.write), verbosity)
    progress(Progress("load", "testapp.post\x1b[2J", 0, route="blogs"))
    progress(Progress("load", "testapp.post\x1b[2J", 1, route="blogs", done=True, seconds=1))
    assert "\x1b" not in out.getvalue()


def test_nothing_is_drawn_when_the_sync_fails_before_its_first_event():
    # A wrong token, a typo in a route: the error is the only line on screen.
    screen, out = live()
    SyncProgress(["blogs", "tags"], screen).close()
    assert out.getvalue() == ""


def test_on_a_narrow_terminal_the_phase_at_work_is_what_shows():
    clock = Clock()
    screen, out = live(width=60, clock=clock)
    progress = SyncProgress(["blogs"], screen, clock=clock)
    progress(Progress("clean", "testapp.post", 0, route="blogs"))
    progress(Progress("clean", "testapp.post", 7, route="blogs", done=True, seconds=0.02))
    for event in itertools.islice(load_events(clock), 6):
        progress(event)
    progress.close()
    assert render(out.getvalue(), width=60) == [
        "blogs  load testapp.post 600/1,200 rows, 0.5 MB, ETA 0:01",
    ]
