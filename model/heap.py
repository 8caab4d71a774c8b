"""Keeping the garbage collector off a loaded model's objects.

A loaded linear model holds a few hundred thousand long-lived Python objects (vocabularies, the
featuriser's caches, the language detector). CPython's full collections walk every tracked
object, and here one takes about 80 ms: a request that happens to set one off waits that long,
and a parent process unpickling its workers' results set them off so often that each result cost
about 100 us instead of 10. Objects moved to the permanent generation (`gc.freeze`) are never
walked again; reference counting still frees them when they are dropped, only cyclic garbage
among them would wait for the next `settle_heap`.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect what is garbage now (including what an earlier call froze and has since been
    dropped, such as a model that a reload replaced), then freeze everything that survives.

    Call it once a process holds the objects it will keep: after loading a model, and before
    forking workers, whose collections then leave the pages they share with the parent alone.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
