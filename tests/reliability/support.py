"""Helpers for the reliability suite: running the CLI, reading live state with raw HTTP (never
through selvsync's own client, so a client bug cannot hide itself), and the invariants every
scenario checks."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from benchmarks.workload import ADMIN_CLIENT, ORGNO, AdminKey, grant_client
from selvsync.api.client import DigdirClient
from selvsync.api.connect import ClientFactory
from selvsync.cli import main
from selvsync.emulator import Emulator
from selvsync.marker import classify_owner
from selvsync.model import EnvironmentSettings, Project
from tests.harness import (  # noqa: F401 - re-exported for the suite's modules
    PREFIX,
    READ_ONLY,
    TOKEN,
    ProjectDir,
    create_out_of_band,
    deactivate_out_of_band,
    edit_out_of_band,
    factory_for,
    raw_clients,
    raw_http,
)

OWNER = "team-a"  # the owner in harness.PROJECT_YAML


class Canary:
    """An emulator ``secret_factory``: every secret is unique and recognisable, so a test can
    search any output for ``Canary.PREFIX`` and know a secret escaped."""

    PREFIX = "CANARY-"

    def __init__(self) -> None:
        self._next = itertools.count(1)
        self._lock = threading.Lock()
        self.issued: list[str] = []

    def __call__(self) -> str:
        with self._lock:
            secret = f"{self.PREFIX}{next(self._next):04d}-x9Qm"
            self.issued.append(secret)
        return secret


class ShiftedClock:
    """The emulator's clock: real time plus an offset a test can move forward, so list lag
    can be set against clients that are "older" than they really are. Real time keeps
    running, so grants signed with the real clock stay within the allowed skew unless a test
    shifts it on purpose."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class AdvancingSleeps(list[float]):
    """A client's ``sleep`` record that also moves the emulator's clock: a wait of 10 s lets
    10 s pass for the emulator (its list lag included) without really waiting."""

    def __init__(self, clock: ShiftedClock) -> None:
        super().__init__()
        self.clock = clock

    def append(self, seconds: float) -> None:
        super().append(seconds)
        self.clock.advance(seconds)


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Cli:
    """``selvsync.cli.main`` against the test's emulator; ``sleeps`` records retry waits."""

    emu: Emulator
    capsys: pytest.CaptureFixture[str]
    sleeps: list[float] = field(default_factory=list)
    factory: ClientFactory | None = None

    def __post_init__(self) -> None:
        if self.factory is None:
            self.factory = factory_for(self.emu, self.sleeps)

    def default_factory(self, project: Project, environ: Any = None) -> ClientFactory:
        assert self.factory is not None
        return self.factory

    def __call__(self, *args: str) -> Result:
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return Result(int(code), out, err)


def register_admin(emu: Emulator, admin: AdminKey) -> None:
    """Let ``admin`` get tokens at ``emu``'s ``POST /token`` (every dcr scope)."""
    emu.add_admin_client(ADMIN_CLIENT, ORGNO, jwks=[admin.jwk])


def grant_factory(
    emu: Emulator,
    admin: AdminKey,
    sleeps: list[float],
    clock: Callable[[], float] = time.time,
    transport: httpx.BaseTransport | None = None,
) -> ClientFactory:
    """Clients that authenticate like production: a Maskinporten JWT grant at the emulator's
    ``POST /token`` (admin client registered with ``admin``'s public key)."""
    register_admin(emu, admin)

    def open_client(env: EnvironmentSettings, command: str) -> DigdirClient:
        return grant_client(
            emu,
            admin,
            command,
            transport=transport or emu.transport(),
            prefix=env.prefix,
            concurrency=env.concurrency,
            sleep=sleeps.append,
            clock=clock,
        )

    return open_client


# -- live state, read with raw HTTP -------------------------------------------------------


def active_markers(emu: Emulator, owner: str = OWNER) -> Counter[str]:
    """How many active clients carry each of ``owner``'s keys."""
    counts: Counter[str] = Counter()
    for client in raw_clients(emu):
        marker, _ = classify_owner(client.get("description"), owner)
        if client.get("active") and marker is not None:
            counts[marker.key] += 1
    return counts


def assert_no_duplicates(emu: Emulator) -> None:
    extra = {key: n for key, n in active_markers(emu).items() if n > 1}
    assert not extra, f"more than one active client per marker: {extra}"


def writes(emu: Emulator) -> dict[str, int]:
    """Counted requests that change something (token requests excluded)."""
    return {
        key: n
        for key, n in emu.counters().items()
        if not key.startswith("GET") and key != "POST /token"
    }


def client_id_of(emu: Emulator, key: str, owner: str = OWNER) -> str:
    (cid,) = [
        c["client_id"]
        for c in raw_clients(emu)
        if c.get("active")
        and (marker := classify_owner(c.get("description"), owner)[0]) is not None
        and marker.key == key
    ]
    return str(cid)


def secret_is_current(emu: Emulator, client_id: str, secret: str) -> bool:
    """True when ``secret`` is the client's valid secret (the emulator keeps only a hash)."""
    row = emu.store.get_client(client_id)
    return row is not None and row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()


def sink_entry(proj: ProjectDir, key: str, env: str = "test") -> dict[str, Any]:
    data = json.loads((proj.root / ".selvsync" / "secrets.json").read_text())
    entry: dict[str, Any] = data[env][key]
    return entry


def set_env_option(proj: ProjectDir, line: str) -> None:
    """Append a setting to environment `test` in selvsync.yaml (e.g. ``concurrency: 1``)."""
    path = proj.root / "selvsync.yaml"
    path.write_text(path.read_text() + f"    {line}\n")
