"""Newer fields against the emulator: backchannel logout and Ansattporten's forced SSO
converge (apply, then plan is empty), and a declared ``sso_disabled: false`` is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from selvsync.apply.runner import apply_plan
from selvsync.cli import main
from selvsync.live.planning import plan_project
from tests.harness import ProjectDir, idporten, make_emulator, raw_clients


@pytest.mark.parametrize("forced", [True, False])
def test_ansattporten_and_backchannel_logout_converge(tmp_path: Path, forced: bool) -> None:
    emu = make_emulator(ansattporten_sso_forced=forced)
    proj = ProjectDir(tmp_path / "p")
    proj.write({
        "staff": idporten("Ansatt", integration_type="ansattporten",
                          backchannel_logout_uri="https://ansatt.example.no/bc"),
        "web": idporten("Web", backchannel_logout_uri="https://web.example.no/logout/bc"),
    })
    with proj.session(emu) as session:
        assert apply_plan(session, plan_project(session)).ok
        assert plan_project(session).empty
    live = {c["client_name"]: c for c in raw_clients(emu)}
    assert live["Ansatt"]["sso_disabled"] is forced
    assert live["Ansatt"]["code_challenge_method"] == "S256"
    assert live["Web"]["backchannel_logout_uri"] == "https://web.example.no/logout/bc"
    assert live["Web"]["backchannel_logout_session_required"] is True


def test_declaring_sso_enabled_on_ansattporten_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = ProjectDir(tmp_path / "p")
    proj.write({"staff": idporten("Ansatt", integration_type="ansattporten", sso_disabled=False)})
    assert main(["validate", "-C", str(proj.root)]) == 3
    err = capsys.readouterr().err
    assert "clients.staff.sso_disabled: Digdir forces sso_disabled: true" in err
    assert "test.yaml:" in err
