"""The collector pause nests across threads and restores the host's own setting."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from selvsync.gcpause import paused_gc


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    before = gc.isenabled()
    yield
    if before:
        gc.enable()
    else:
        gc.disable()


def test_pauses_and_resumes() -> None:
    gc.enable()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds the pause
    assert gc.isenabled()


def test_resumes_after_an_exception() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    with paused_gc():
        pass
    assert not gc.isenabled()


def test_overlapping_blocks_in_two_threads() -> None:
    gc.enable()
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with paused_gc():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(5)
    with paused_gc():
        pass
    assert not gc.isenabled()  # the other thread's block has not ended yet
    release.set()
    thread.join(5)
    assert gc.isenabled()
