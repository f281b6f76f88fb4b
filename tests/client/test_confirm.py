"""When a clean asks first: model by model, over the models it empties."""

from types import SimpleNamespace

import pytest

from synctool.client.confirm import ask_before_large_clean
from synctool.exceptions import SyncCancelled


def asked(deleting: dict, announced: dict) -> dict | None:
    """What ``confirm`` was shown (None: not asked), answering no."""
    loader = SimpleNamespace(rows_to_clean=lambda: deleting)
    results = [SimpleNamespace(expected={k: (v, False) for k, v in announced.items()})]
    shown = []

    def confirm(local, expected):
        shown.append(expected)
        return False

    try:
        ask_before_large_clean(loader, results, confirm)
    except SyncCancelled:
        assert shown
    return shown[0] if shown else None


def test_parents_announced_do_not_make_up_for_a_model_emptied():
    # 7,000 local customers, 2,000 arriving; 20,000 parent rows (never cleaned).
    shown = asked({"shop.customer": 7000}, {"shop.customer": 2000, "auth.user": 20000})
    assert shown == {"shop.customer": 2000}


def test_another_model_does_not_make_up_for_one_emptied():
    assert asked(
        {"shop.customer": 500, "shop.order": 10_000}, {"shop.customer": 0, "shop.order": 10_000}
    ) == {"shop.customer": 0, "shop.order": 10_000}


@pytest.mark.parametrize(
    ("local", "coming"), [(200, 100), (150, 60), (0, 0), (5000, 4000)], ids=str
)
def test_a_clean_close_to_what_arrives_does_not_ask(local, coming):
    assert asked({"shop.customer": local}, {"shop.customer": coming}) is None
