"""A run's session: one API client (and so one token) per environment, listings prefetched."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selvsync.api.client import DigdirClient
from selvsync.api.connect import ClientFactory
from selvsync.config import load_project
from selvsync.live.read import list_all
from selvsync.live.writelog import WriteLog
from selvsync.model import Project


@dataclass
class Session:
    """One run: one API client (and so one token) per environment, reused by every step."""

    project: Project
    factory: ClientFactory
    command: str = "plan"
    written: WriteLog = field(default_factory=lambda: WriteLog())
    _clients: dict[str, DigdirClient] = field(default_factory=dict)
    _prefetched: dict[str, Future[list[dict[str, Any]]]] = field(default_factory=dict)

    def client(self, env: str) -> DigdirClient:
        if env not in self._clients:
            self._clients[env] = self.factory(self.project.environments[env], self.command)
        return self._clients[env]

    def prefetch_listings(self, names: Iterable[str]) -> None:
        """Start each environment's listing (and so its token request) in the background.

        Called while the environment files are still loading: the network wait overlaps the
        CPU work. The first listing() of an environment takes the result; later ones read
        afresh. The threads are daemons: when loading fails, nobody waits for them.
        """
        for name in names:
            client = self.client(name)  # opened here: factories need not be thread-safe
            future: Future[list[dict[str, Any]]] = Future()

            def read(client: DigdirClient = client, future: Future[Any] = future) -> None:
                try:
                    future.set_result(list_all(client))
                except Exception as exc:  # handed to whoever takes the listing
                    future.set_exception(exc)

            threading.Thread(target=read, name=f"prefetch-{name}", daemon=True).start()
            self._prefetched[name] = future

    def listing(self, env: str) -> list[dict[str, Any]]:
        """All clients of ``env``, deactivated ones included: prefetched once, then fresh."""
        future = self._prefetched.pop(env, None)
        if future is not None:
            return future.result()
        return list_all(self.client(env))

    def close(self) -> None:
        self._prefetched.clear()
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_and_connect(
    directory: Path,
    only: list[str] | None,
    factory_for: Callable[[Project], ClientFactory],
    command: str,
    stack: ExitStack,
    *,
    guard: Callable[[Project], AbstractContextManager[object]] | None = None,
    prefetch: bool = True,
) -> Session:
    """Load the project and open a Session on it, the listings already on their way.

    As soon as selvsync.yaml is valid, ``guard(project)`` is entered (apply's lock: before any
    read, so the listing is never older than the lock) and each selected environment's
    listing is requested; the environment files load and validate meanwhile. A ConfigError
    propagates as from load_project, and ``stack`` closes whatever was opened.
    """
    opened: list[Session] = []

    def connect(project: Project, selected: list[str]) -> None:
        if guard is not None:
            stack.enter_context(guard(project))
        session = stack.enter_context(Session(project, factory_for(project), command))
        if prefetch:
            session.prefetch_listings(selected)
        opened.append(session)

    load_project(directory, only, on_settings=connect)
    return opened[0]
