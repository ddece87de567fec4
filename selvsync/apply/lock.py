"""A per-project apply lock, so that two applies from one checkout never interleave.

Digdir offers no locking or ETags, and an apply is a read-then-write: two at once would both
plan the same creates. Across machines, serialise applies in CI (the shipped workflows use a
concurrency group per environment); on one machine this lock does it. The lock is advisory
(flock) and released by the kernel if the process dies, so it can never be left stale.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from selvsync.errors import SelvsyncError
from selvsync.files import open_lock_file

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; CI serialisation still applies
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".selvsync/apply.lock"


class LockTimeoutError(SelvsyncError):
    """Another apply held the project's lock for longer than we were willing to wait."""


@contextmanager
def apply_lock(
    root: Path,
    *,
    timeout: float = 600.0,
    on_wait: Callable[[str], None] = lambda _: None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    path = root / LOCK_FILE
    fd = open_lock_file(path)
    try:
        waited = 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waited == 0.0:
                    on_wait(f"another apply is running in this project; waiting (lock {path})")
                if waited >= timeout:
                    raise LockTimeoutError(
                        f"another apply held {path} for {timeout:.0f} s; try again later"
                    ) from None
                sleep(0.2)
                waited += 0.2
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the flock
