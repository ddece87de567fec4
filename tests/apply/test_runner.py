"""selvsync.apply.runner on its own: phases in order, a failure stops new work (unless
continue_on_error), every change ends with an honest status. A plan built from a project and
applied through a session on the real client and the emulator, with the order of requests
recorded at the transport."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from selvsync.apply.runner import apply_plan
from selvsync.emulator import Emulator
from selvsync.live.planning import plan_project
from selvsync.live.session import Session
from selvsync.plan.actions import Action
from selvsync.plan.results import Status
from tests.harness import ProjectDir, factory_for, idporten, make_emulator

PREFIX = "/api/v1"


class Recording(httpx.BaseTransport):
    """The emulator's transport, remembering the order of write requests."""

    def __init__(self, emu: Emulator) -> None:
        self.inner = emu.transport()
        self.writes: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            self.writes.append(f"{request.method} {request.url.path}")
        return self.inner.handle_request(request)


@pytest.fixture
def emu() -> Any:
    emulator = make_emulator()
    yield emulator
    emulator.close()


def _session(proj: ProjectDir, emu: Emulator, transport: httpx.BaseTransport) -> Session:
    return Session(proj.load(), factory_for(emu, transport=transport), command="apply")


def _setup(tmp_path: Path, emu: Emulator) -> ProjectDir:
    """`old` applied; then the YAML drops `old` and declares `a` and `b`."""
    proj = ProjectDir(tmp_path / "p")
    proj.write({"old": idporten("Old")})
    with proj.session(emu) as session:
        assert apply_plan(session, plan_project(session)).ok
    proj.write({"a": idporten("A"), "b": idporten("B")})
    return proj


def test_creates_run_before_deactivations(tmp_path: Path, emu: Emulator) -> None:
    proj = _setup(tmp_path, emu)
    recording = Recording(emu)
    with _session(proj, emu, recording) as session:
        plan = plan_project(session)
        report = apply_plan(session, plan)
    assert report.ok
    assert sorted(str(o.change.action) for o in report.outcomes) == [
        "create",
        "create",
        "deactivate",
    ]
    kinds = [w.split()[0] for w in recording.writes]
    assert kinds == ["POST", "POST", "DELETE"], recording.writes


def test_a_failure_stops_new_work_and_says_what_was_not_attempted(
    tmp_path: Path, emu: Emulator
) -> None:
    proj = _setup(tmp_path, emu)
    emu.faults.add("status", method="POST", path=f"{PREFIX}/clients", status=400, times=1)
    with proj.session(emu) as session:
        plan = plan_project(session)
        report = apply_plan(session, plan)
    by_action: dict[str, list[Status]] = {str(o.change.action): [] for o in report.outcomes}
    for outcome in report.outcomes:
        by_action[str(outcome.change.action)].append(outcome.status)
    assert Status.FAILED in by_action["create"]
    # The deactivation is in a later phase: never started after the failure.
    assert by_action["deactivate"] == [Status.NOT_ATTEMPTED]
    assert not report.ok


def test_continue_on_error_carries_on_with_independent_changes(
    tmp_path: Path, emu: Emulator
) -> None:
    proj = _setup(tmp_path, emu)
    emu.faults.add("status", method="POST", path=f"{PREFIX}/clients", status=400, times=1)
    with proj.session(emu) as session:
        report = apply_plan(session, plan_project(session), continue_on_error=True)
    statuses = sorted((str(o.change.action), str(o.status)) for o in report.outcomes)
    assert statuses == [
        ("create", "applied"),
        ("create", "failed"),
        ("deactivate", "applied"),
    ]
    assert report.wrote_anything and not report.ok


def test_manual_steps_are_never_claimed(tmp_path: Path, emu: Emulator) -> None:
    proj = ProjectDir(tmp_path / "p")
    yaml_path = proj.root / "selvsync.yaml"
    yaml_path.write_text(yaml_path.read_text() + "    merchant_api: false\n")
    proj.write({"a": idporten("A", merchant={"notification_emails": ["drift@example.no"]})})
    with proj.session(emu) as session:
        plan = plan_project(session)
        report = apply_plan(session, plan)
    manual = [o for o in report.outcomes if o.change.action == Action.MERCHANT]
    assert [o.status for o in manual] == [Status.MANUAL]
    assert report.ok
