"""How commands reach Digdir: the client factory and the apply lock, looked up here at call
time so that tests (and only tests) can point every command at an emulator in one place."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

from selvsync.api.connect import default_factory
from selvsync.apply.lock import apply_lock
from selvsync.cli.options import progress
from selvsync.live.session import Session, load_and_connect
from selvsync.model import Project

__all__ = ["apply_lock", "default_factory", "reader", "writer"]


def _lock(project: Project) -> AbstractContextManager[None]:
    return apply_lock(project.root, on_wait=progress)


@contextmanager
def reader(directory: Path, envs: Sequence[str], command: str = "plan") -> Iterator[Session]:
    """A read-only session, the listings already on their way."""
    with ExitStack() as stack:
        yield load_and_connect(directory, list(envs) or None, default_factory, command, stack)


@contextmanager
def writer(directory: Path, envs: Sequence[str], *, prefetch: bool = True) -> Iterator[Session]:
    """A session with write scopes, holding the project's apply lock for its whole life."""
    with ExitStack() as stack:
        yield load_and_connect(
            directory,
            list(envs) or None,
            default_factory,
            "apply",
            stack,
            guard=_lock,
            prefetch=prefetch,
        )
