"""Lines on standard error: redrawn in place on a terminal, plain elsewhere.

:class:`LiveLines` keeps a few status lines (one per route) at the bottom of
a terminal and rewrites them where they are (carriage return, cursor up,
erase to the end of the line: ANSI sequences every terminal in use today
understands), with permanent lines printed above them. Each line is cut to
the terminal's width, so none wraps and the cursor arithmetic stays right.
:class:`PlainLines` is the same interface for a log file or a pipe: the
status lines are not drawn, the permanent ones are written as they come.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable

UP = "\x1b[{}A\r"  # cursor up N lines, to the first column
CLEAR_LINE = "\x1b[K"  # erase from the cursor to the end of the line
CLEAR_BELOW = "\x1b[J"  # erase from the cursor to the end of the screen

# Status lines are redrawn at most this often (seconds), unless forced.
REDRAW_EVERY = 0.1


def terminal_width(stream) -> int:
    """The columns of the terminal ``stream`` writes to (80 when it cannot be told)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return shutil.get_terminal_size().columns


class PlainLines:
    """Permanent lines only: for a log file, a pipe, a test's buffer."""

    live = False

    def __init__(self, write: Callable[[str], None]):
        self.write = write

    def show(self, lines: list[str], *, force: bool = False) -> None:
        """Status lines are not drawn where nothing can be redrawn."""

    def print(self, text: str) -> None:
        self.write(text + "\n")

    def close(self) -> None:
        pass


class LiveLines:
    """Status lines redrawn in place at the bottom of a terminal.

    :param write: writes text as it is (no newline added) and flushes.
    :param width: returns the terminal's width now (it may be resized).
    """

    live = True

    def __init__(
        self,
        write: Callable[[str], None],
        width: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.write = write
        self.width = width
        self.clock = clock
        self.lines: list[str] = []
        self.drawn = 0  # status lines on screen, above the cursor
        self.last_draw: float | None = None

    def _fit(self, text: str) -> str:
        # One column short of the width: a line that fills the last column
        # leaves some terminals' cursor past it, and the next one would wrap.
        return text[: max(self.width() - 1, 1)]

    def _frame(self, before: str = "") -> str:
        """The text that replaces the drawn status lines (and prints ``before`` above)."""
        out = [UP.format(self.drawn)] if self.drawn else ["\r"]
        if before:
            out.append(before + CLEAR_LINE + "\n")
        out.extend(self._fit(line) + CLEAR_LINE + "\n" for line in self.lines)
        out.append(CLEAR_BELOW)
        self.drawn = len(self.lines)
        self.last_draw = self.clock()
        return "".join(out)

    def show(self, lines: list[str], *, force: bool = False) -> None:
        """Make ``lines`` the status lines; redraw now if ``force`` or it is time."""
        self.lines = list(lines)
        now = self.clock()
        if force or self.last_draw is None or now - self.last_draw >= REDRAW_EVERY:
            self.write(self._frame())

    def print(self, text: str) -> None:
        """A permanent line, above the status lines (it may wrap: it is never redrawn)."""
        self.write(self._frame(before=text))

    def close(self) -> None:
        """Draw the status lines as they are last; they stay on screen."""
        if self.lines or self.drawn:
            self.write(self._frame())
        self.drawn = 0
