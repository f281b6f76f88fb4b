"""ReadAhead: same items, same errors, bounded, stoppable."""

import pytest

from synctool.exceptions import IncompleteResponse
from synctool.readahead import ReadAhead


def test_yields_every_item_in_order():
    assert list(ReadAhead(iter(range(1001)), batch_size=7, depth=2)) == list(range(1001))
    assert list(ReadAhead(iter([]))) == []


def test_an_error_is_raised_after_the_items_before_it():
    def source():
        yield from range(5)
        raise IncompleteResponse("cut")

    received = []
    with pytest.raises(IncompleteResponse, match="cut"):
        for item in ReadAhead(source(), batch_size=2):
            received.append(item)
    assert received == [0, 1, 2, 3, 4]


def test_stays_a_bounded_number_of_items_ahead():
    produced = 0

    def source():
        nonlocal produced
        for item in range(10_000):
            produced += 1
            yield item

    reader = ReadAhead(source(), batch_size=10, depth=3)
    items = iter(reader)
    assert next(items) == 0
    # Give the reader time to fill the queue; it must then be waiting, not done.
    assert not reader.join(timeout=0.5)
    # The consumed batch, 3 queued, one being put and one being filled.
    assert produced <= 10 * (1 + 3 + 2)
    reader.stop()
    assert reader.join(timeout=5)


def test_stop_ends_the_reader_and_the_source_is_not_read_further():
    def endless():
        item = 0
        while True:
            yield item
            item += 1

    reader = ReadAhead(endless(), batch_size=5, depth=2)
    assert next(iter(reader)) == 0
    reader.stop()
    assert reader.join(timeout=5)
