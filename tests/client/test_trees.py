"""The nesting check of django-mptt trees (synctool.client.trees), row by row."""

import pytest

from synctool.client.trees import _first_misplaced


def rows(*nodes):
    """``(key, parent, tree, lft, rght)`` in the order the check reads them."""
    return sorted(nodes, key=lambda node: (node[2], node[3]))


def test_a_tree_with_gaps_nests():
    # A subset's rows: a root, one child and a grandchild of production's tree.
    assert _first_misplaced(rows((1, None, 2, 1, 34), (5, 1, 2, 10, 21), (7, 5, 2, 12, 13))) is None
    # Two trees, each whole.
    assert _first_misplaced(rows((1, None, 1, 1, 4), (2, 1, 1, 2, 3), (3, None, 2, 1, 2))) is None


@pytest.mark.parametrize(
    ("nodes", "key", "wrong"),
    [
        # The laptop's root in production's tree 2, numbered inside production's root...
        (((1, None, 2, 1, 34), (9, None, 2, 1, 8)), 9, "put it under row 1, its parent is None"),
        # ... or beside it.
        (((1, None, 2, 1, 4), (9, None, 2, 5, 8)), 9, "it is a second root, beside row 1"),
        # A row whose numbers put it under a row that is not its parent.
        (((1, None, 2, 1, 10), (2, 1, 2, 2, 5), (3, 1, 2, 3, 4)), 3, "put it under row 2"),
        # Overlapping numbers (a row moved on production, its old numbers kept here).
        (((1, None, 2, 1, 10), (2, 1, 2, 2, 6), (3, 1, 2, 5, 8)), 3, "overlap row 2's"),
        # A child outside every row's numbers.
        (((1, None, 2, 1, 4), (2, 1, 2, 6, 7)), 2, "make it a root, its parent is 1"),
        (((1, None, 2, 3, 3),), 1, "enclose nothing"),
    ],
)
def test_a_misplaced_row_is_named(nodes, key, wrong):
    found = _first_misplaced(rows(*nodes))
    assert found is not None
    assert found[0] == key
    assert wrong in found[2]
