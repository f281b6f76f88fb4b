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

# A clean "far larger" than what arrives, for one model: more than twice the
# rows announced and more than 100 rows beyond them.
FACTOR = 2
SLACK = 100


def clean_is_large(deleting: int, expected: int) -> bool:
    return deleting > max(FACTOR * expected, expected + SLACK)


def ask_before_large_clean(loader, results, confirm: ConfirmClean) -> None:
    """Call ``confirm`` when the loader's clean is large for any model; raise
    SyncCancelled on no.

    Model by model, and only the models the clean empties: rows announced
    for parents (never cleaned) or another model must not make up for the
    customers a mistyped subset would delete.
    """
    deleting = loader.rows_to_clean()
    announced: dict[str, int] = {}
    for result in results:
        for label, (rows, _estimated) in result.expected.items():
            announced[label] = announced.get(label, 0) + rows
    expected = {label: announced.get(label, 0) for label in deleting}
    large = any(clean_is_large(rows, expected[label]) for label, rows in deleting.items())
    if large and not confirm(deleting, expected):
        raise SyncCancelled("the sync was cancelled: nothing was deleted or written")
