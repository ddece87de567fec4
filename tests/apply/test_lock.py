"""The per-project apply lock serialises writers in one checkout."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from selvsync.apply.lock import LockTimeoutError, apply_lock


def test_second_holder_waits_for_the_first(tmp_path: Path) -> None:
    order: list[str] = []
    first_in = threading.Event()
    release = threading.Event()

    def first() -> None:
        with apply_lock(tmp_path):
            order.append("first in")
            first_in.set()
            release.wait(5)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    waits: list[str] = []

    def on_wait(message: str) -> None:
        waits.append(message)
        release.set()

    with apply_lock(tmp_path, on_wait=on_wait):
        order.append("second in")
    thread.join(5)
    assert order == ["first in", "first out", "second in"]
    assert "another apply is running" in waits[0]


def test_gives_up_after_the_timeout(tmp_path: Path) -> None:
    naps: list[float] = []
    with apply_lock(tmp_path), pytest.raises(LockTimeoutError), apply_lock(
        tmp_path, timeout=1.0, sleep=naps.append
    ):
        pass
    assert sum(naps) >= 1.0  # a fake sleep: the test never really waits
