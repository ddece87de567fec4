"""How commands reach Digdir: the client factory and the apply lock, looked up here at call
time so that tests (and only tests) can point every command at an emulator in one place."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

from selvsync.api import connect
from selvsync.api.connect import ClientFactory
from selvsync.apply.lock import apply_lock
from selvsync.cli.options import progress
from selvsync.config.trust import untrusted_reason
from selvsync.live.session import Session, load_and_connect
from selvsync.model import Project

__all__ = ["apply_lock", "default_factory", "reader", "writer"]


def default_factory(project: Project, environ: Mapping[str, str] | None = None) -> ClientFactory:
    """The real factory, with the trusted-host rule for token endpoints found by discovery."""
    env = dict(os.environ if environ is None else environ)
    return connect.default_factory(
        project, env, untrusted=lambda url: untrusted_reason(url, env)
    )


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
