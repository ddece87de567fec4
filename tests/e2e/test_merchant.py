"""Merchant data: diffed and written where there is an API, a manual portal step where not."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from selvsync.apply.runner import apply_plan
from selvsync.cli import main
from selvsync.emulator import Emulator
from selvsync.live.planning import plan_project
from selvsync.plan.actions import Action
from selvsync.plan.changes import Plan
from selvsync.plan.results import Status
from selvsync.render import render_text
from tests.harness import ProjectDir, idporten, make_emulator

MERCHANT = {
    "notification_emails": ["drift@example.no"],
    "invoice": {"orgno": "991825827", "reference": "REF-1"},
}
NO_API = """\
orgno: "991825827"
owner: team-a
environments:
  test:
    api: emulator
    merchant_api: false
"""


@pytest.fixture
def emu() -> Emulator:
    return make_emulator()


def _plan(proj: ProjectDir, emu: Emulator) -> Plan:
    with proj.session(emu, "plan") as session:
        return plan_project(session)


def _apply(proj: ProjectDir, emu: Emulator) -> Any:
    with proj.session(emu) as session:
        return apply_plan(session, plan_project(session))


def test_with_api_merchant_is_written_and_converges(tmp_path: Path, emu: Emulator) -> None:
    proj = ProjectDir(tmp_path / "p")
    proj.write({"web": idporten("Web")}, merchant=MERCHANT)
    plan = _plan(proj, emu)
    assert sorted(c.action for c in plan.changes) == [Action.CREATE, Action.MERCHANT]
    assert _apply(proj, emu).ok
    assert _plan(proj, emu).empty
    changed = dict(MERCHANT, notification_emails=["drift@example.no", "vakt@example.no"])
    proj.write({"web": idporten("Web")}, merchant=changed)
    (change,) = _plan(proj, emu).changes
    assert change.action == Action.MERCHANT and not change.manual
    assert [(f.field, f.before, f.after) for f in change.fields] == [
        ("notification_emails", ["drift@example.no"], ["drift@example.no", "vakt@example.no"])
    ]
    assert _apply(proj, emu).ok
    assert _plan(proj, emu).empty


def test_without_api_a_manual_step_until_confirmed(
    tmp_path: Path,
    emu: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.harness import factory_for

    monkeypatch.setattr("selvsync.cli.connecting.default_factory", lambda project: factory_for(emu))
    proj = ProjectDir(tmp_path / "p", project_yaml=NO_API)
    proj.write({"web": idporten("Web")}, merchant=MERCHANT)
    assert main(["apply", "-C", str(proj.root), "--auto-approve"]) == 0
    out = capsys.readouterr().out
    assert "1 applied, 0 failed, 0 not attempted, 1 manual" in out
    assert "manual step(s) in the portal remain" in out
    # Still a reminder: selvsync never claims it entered the data.
    plan = _plan(proj, emu)
    (change,) = plan.changes
    assert change.manual and change.action == Action.MERCHANT
    assert any("Rediger integrasjon" in n for n in change.notes)
    assert main(["plan", "-C", str(proj.root), "--detailed-exitcode"]) == 2
    capsys.readouterr()
    assert main(["merchant", "confirm", "-C", str(proj.root), "--env", "test"]) == 0
    assert "confirmed merchant data of web" in capsys.readouterr().out
    assert _plan(proj, emu).empty
    # A change to the YAML brings the reminder back.
    proj.write(
        {"web": idporten("Web")},
        merchant=dict(MERCHANT, invoice={"orgno": "991825827", "reference": "REF-2"}),
    )
    assert [c.action for c in _plan(proj, emu).changes] == [Action.MERCHANT]


def test_manual_checklist_golden(
    tmp_path: Path, emu: Emulator, request: pytest.FixtureRequest
) -> None:
    proj = ProjectDir(tmp_path / "p", project_yaml=NO_API)
    merchant = dict(
        MERCHANT,
        invoice=dict(
            MERCHANT["invoice"], contact_email="faktura@example.no", peppol_address="0192:991825827"
        ),
    )
    proj.write({"web": idporten("Web")}, merchant=merchant)
    assert _apply(proj, emu).ok
    plan = _plan(proj, emu)
    (change,) = plan.changes
    text = render_text(plan, color=False).replace(str(change.client_id), "<client_id>")
    golden = Path(__file__).parents[1] / "golden" / "merchant-manual.txt"
    if request.config.getoption("--update-goldens") or os.environ.get("SELVSYNC_UPDATE_GOLDENS"):
        golden.write_text(text)
    assert text == golden.read_text(), "run pytest --update-goldens on purpose, then review"


def test_confirm_refused_where_an_api_exists(
    tmp_path: Path,
    emu: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.harness import factory_for

    monkeypatch.setattr("selvsync.cli.connecting.default_factory", lambda project: factory_for(emu))
    proj = ProjectDir(tmp_path / "p")
    proj.write({"web": idporten("Web")}, merchant=MERCHANT)
    assert main(["merchant", "confirm", "-C", str(proj.root), "--env", "test"]) == 1
    assert "has a merchant-data API" in capsys.readouterr().err


def test_failed_create_leaves_merchant_not_attempted(tmp_path: Path, emu: Emulator) -> None:
    proj = ProjectDir(tmp_path / "p")
    proj.write({"web": idporten("Web")}, merchant=MERCHANT)
    emu.faults.add("status", method="POST", path="/api/v1/clients", status=400, times=1)
    with proj.session(emu) as session:
        report = apply_plan(session, plan_project(session))
    statuses = sorted((o.change.action, o.status) for o in report.outcomes)
    assert statuses == [(Action.CREATE, Status.FAILED), (Action.MERCHANT, Status.NOT_ATTEMPTED)]


def test_confirm_keeps_fields_selvsync_does_not_know(
    tmp_path: Path,
    emu: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The marker rewrite of `merchant confirm` is a full PUT too: it must send back what
    # Digdir holds, a field selvsync does not know included (selvsync.plan.lossless).
    from tests.harness import edit_out_of_band, factory_for, raw_clients

    monkeypatch.setattr("selvsync.cli.connecting.default_factory", lambda project: factory_for(emu))
    proj = ProjectDir(tmp_path / "p", project_yaml=NO_API)
    proj.write({"web": idporten("Web")}, merchant=MERCHANT)
    assert main(["apply", "-C", str(proj.root), "--auto-approve"]) == 0
    (cid,) = [c["client_id"] for c in raw_clients(emu) if c["active"]]
    edit_out_of_band(emu, cid, x_future_setting=["kept"])
    assert main(["merchant", "confirm", "-C", str(proj.root), "--env", "test"]) == 0
    capsys.readouterr()
    (live,) = [c for c in raw_clients(emu) if c["active"]]
    assert " m=" in live["description"] and live["x_future_setting"] == ["kept"]
