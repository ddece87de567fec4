"""Fixtures for the reliability suite: an in-memory emulator that hands out recognisable
secrets, a project folder, and the CLI wired to that emulator.

The CLI runs through ``selvsync.cli.main`` with ``selvsync.cli.connecting.default_factory``
patched to open the real DigdirClient over the emulator's in-process transport
(tests/harness.py), so exit codes, messages and every request are the real ones. Retries never
really wait: the client's ``sleep`` records the requested delays instead.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ProjectDir, make_emulator

# The benchmarks package lives at the repository root; `pytest` (unlike `python -m pytest`)
# does not put the root on sys.path. It provides the admin key for the JWT-grant tests.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.workload import AdminKey, admin_key  # noqa: E402
from selvsync.emulator import Emulator  # noqa: E402

from .support import Canary, Cli, ShiftedClock  # noqa: E402


@pytest.fixture
def canary() -> Canary:
    return Canary()


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def emu(canary: Canary, clock: ShiftedClock) -> Iterator[Emulator]:
    emulator = make_emulator(secret_factory=canary, clock=clock)
    yield emulator
    emulator.close()


@pytest.fixture
def proj(tmp_path: Path) -> ProjectDir:
    return ProjectDir(tmp_path / "p")


@pytest.fixture
def cli(emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    runner = Cli(emu, capsys)
    monkeypatch.setattr("selvsync.cli.connecting.default_factory", runner.default_factory)
    return runner


@pytest.fixture(scope="session")
def admin() -> Iterator[AdminKey]:
    with admin_key() as key:
        yield key
