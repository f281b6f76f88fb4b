"""SyncLoader's process-wide settings are put back."""

import gc

import pytest

from synctool.loader import LOAD_GC_THRESHOLD, fewer_gc_passes


def test_the_load_collects_garbage_less_often_and_restores_the_threshold():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_gc_passes():
        assert gc.get_threshold()[0] == max(LOAD_GC_THRESHOLD, before[0])
        raise RuntimeError
    assert gc.get_threshold() == before
