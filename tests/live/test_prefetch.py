"""A plan requests the listing as soon as selvsync.yaml is valid, while the environment files
still load: the network wait overlaps the CPU work. It must cost no extra request, and a
configuration error must still be what the user sees, whatever the network does."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from selvsync.api.client import DigdirClient
from selvsync.api.errors import HttpStatusError
from selvsync.config import load_project
from selvsync.emulator import Emulator
from selvsync.errors import ConfigError
from selvsync.live.planning import plan_project
from selvsync.live.session import load_and_connect
from selvsync.model import EnvironmentSettings, Project
from tests.harness import ProjectDir, factory_for, idporten, make_emulator

LIST = "/api/v1/clients"


@pytest.fixture
def emu() -> Emulator:
    return make_emulator()


@pytest.fixture
def proj(tmp_path: Path) -> ProjectDir:
    proj = ProjectDir(tmp_path / "p")
    proj.write({"web": idporten("Web"), "app": idporten("App")})
    return proj


def _break_environment_file(proj: ProjectDir) -> None:
    (proj.root / "environments" / "test.yaml").write_text("clients:\n  web: {client_nam: X}\n")


def test_settings_hook_runs_before_the_environment_files_are_read(proj: ProjectDir) -> None:
    _break_environment_file(proj)
    seen: list[tuple[list[str], int]] = []

    def hook(project: Project, selected: list[str]) -> None:
        seen.append((selected, len(project.states)))

    with pytest.raises(ConfigError) as info:
        load_project(proj.root, on_settings=hook)
    assert seen == [(["test"], 0)]  # called once, with no state loaded yet
    assert "clients.web.client_nam: unknown key" in info.value.render()


def test_settings_hook_is_not_called_when_selvsync_yaml_has_errors(proj: ProjectDir) -> None:
    (proj.root / "selvsync.yaml").write_text(
        'orgno: "991825827"\nenvironments:\n  test: {api: emulator, concurency: 2}\n'
    )
    called: list[str] = []
    with pytest.raises(ConfigError) as info:
        load_project(proj.root, on_settings=lambda p, s: called.append("yes"))
    assert called == []
    assert "concurency" in info.value.render()


class _Recording(DigdirClient):
    """Records the thread each listing is read on."""

    threads: list[str]

    def list_clients(self, inactive: bool = False) -> list[dict[str, Any]]:
        self.threads.append(threading.current_thread().name)
        return super().list_clients(inactive=inactive)


def _recording_factory(emu: Emulator, threads: list[str]) -> Any:
    inner = factory_for(emu)

    def open_client(env: EnvironmentSettings, command: str) -> DigdirClient:
        client = inner(env, command)
        client.__class__ = _Recording
        client.threads = threads  # type: ignore[attr-defined]
        return client

    return lambda project: open_client


def test_plan_takes_the_prefetched_listing_and_sends_nothing_extra(
    proj: ProjectDir, emu: Emulator
) -> None:
    threads: list[str] = []
    with ExitStack() as stack:
        session = load_and_connect(
            proj.root, None, _recording_factory(emu, threads), "plan", stack
        )
        plan = plan_project(session)
        assert sorted(c.key for c in plan.changes) == ["app", "web"]
        assert threads == ["prefetch-test"]  # read in the background, during loading
        assert emu.counters() == {"GET /clients": 1}
        # The prefetched listing is used once: a later plan (apply's check) reads afresh.
        plan_project(session)
        assert len(threads) == 2 and threads[1].startswith("plan")
        assert emu.counters() == {"GET /clients": 2}


def test_configuration_errors_win_over_a_failing_api(proj: ProjectDir, emu: Emulator) -> None:
    emu.faults.add("status", method="GET", path=LIST, status=503)
    _break_environment_file(proj)
    with ExitStack() as stack, pytest.raises(ConfigError) as info:
        load_and_connect(proj.root, None, lambda p: factory_for(emu), "plan", stack)
    assert "client_nam" in info.value.render()


def test_a_failed_prefetch_fails_the_plan_as_a_direct_read_would(
    proj: ProjectDir, emu: Emulator
) -> None:
    emu.faults.add("status", method="GET", path=LIST, status=503)
    with ExitStack() as stack:
        session = load_and_connect(proj.root, None, lambda p: factory_for(emu), "plan", stack)
        with pytest.raises(HttpStatusError, match="503"):
            plan_project(session)


def test_no_prefetch_when_asked_not_to(proj: ProjectDir, emu: Emulator) -> None:
    with ExitStack() as stack:
        load_and_connect(
            proj.root, None, lambda p: factory_for(emu), "apply", stack, prefetch=False
        )
        assert emu.counters() == {}
