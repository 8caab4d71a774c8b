"""`model.heap.settle_heap`: garbage is collected first, survivors are frozen, and a later call
collects what an earlier one froze and has since been dropped (a model a reload replaced)."""

import gc
import weakref

import pytest

from model.heap import settle_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector can free it


@pytest.fixture(autouse=True)
def _unfrozen_afterwards():
    yield
    gc.unfreeze()


def test_garbage_is_collected_before_the_survivors_are_frozen() -> None:
    garbage = _Node()
    gone = weakref.ref(garbage)
    del garbage
    kept = _Node()
    settle_heap()
    assert gone() is None
    assert gc.get_freeze_count() > 0
    assert not any(obj is kept for obj in gc.get_objects())  # frozen objects are no longer tracked by generation
    gc.unfreeze()
    assert any(obj is kept for obj in gc.get_objects())


def test_a_later_call_collects_what_an_earlier_one_froze() -> None:
    replaced = _Node()
    gone = weakref.ref(replaced)
    settle_heap()  # `replaced` is alive: frozen
    del replaced
    gc.collect()
    assert gone() is not None  # frozen cyclic garbage waits...
    settle_heap()
    assert gone() is None  # ...for the next settle
