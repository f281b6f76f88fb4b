"""A clean that would delete far more rows than the sync brings asks first.

``sync_data customer/99999 --clean`` (a customer that does not exist) would
otherwise delete every local customer and bring none. Like ``flush``, the
command asks on a terminal; ``--noinput`` (and the Python API, unless it
passes ``confirm_clean``) does not ask.
"""

from __future__ import annotations

from collections.abc import Callable

from synctool.exceptions import SyncCancelled

ConfirmClean = Callable[[dict[str, int], dict[str, int]], bool]

# A clean "far larger" than what arrives: more than twice the rows announced
# and more than 100 rows beyond them.
FACTOR = 2
SLACK = 100


def clean_is_large(deleting: int, expected: int) -> bool:
    return deleting > max(FACTOR * expected, expected + SLACK)


def ask_before_large_clean(loader, results, confirm: ConfirmClean) -> None:
    """Call ``confirm`` when the loader's clean is large; raise SyncCancelled on no."""
    deleting = loader.rows_to_clean()
    expected: dict[str, int] = {}
    for result in results:
        for label, (rows, _estimated) in result.expected.items():
            expected[label] = expected.get(label, 0) + rows
    large = clean_is_large(sum(deleting.values()), sum(expected.values()))
    if large and not confirm(deleting, expected):
        raise SyncCancelled("the sync was cancelled: nothing was deleted or written")
