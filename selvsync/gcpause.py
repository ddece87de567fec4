"""Pause Python's cyclic garbage collector while selvsync builds large, acyclic data.

Loading a project and diffing it against a listing allocate hundreds of thousands of dicts,
lists and strings that stay alive. Each allocation burst triggers the cyclic collector, and
its full collections walk every live object again: about a quarter of a 5 000-client plan's
CPU (docs/performance.md, B2 and B5). None of that data forms reference cycles, so reference
counting frees it all anyway; the collector has nothing to find there.

The pause is scoped and nests across threads: the collector runs again as soon as the last
paused block ends, and stays off if the host program had turned it off itself.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def command_policy() -> None:
    """The collector's policy for one CLI command (a short-lived process).

    Everything imported so far lives until exit: ``gc.freeze()`` moves it out of the
    collector's sight, so no later collection walks it again. The first generation is
    collected every 10 000 allocations instead of 700: a command allocates in bursts of
    acyclic data (responses, loaded values), and the scoped pauses above cover the largest.
    Cycles are still collected, so a long-running command (the emulator) stays bounded.
    """
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(10_000, second, third)
