"""The CLI end to end: real files, the real httpx client, the emulator in-process and over a
loopback socket. Exit codes follow the contract in the README."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from selvsync.cli import main
from selvsync.emulator import Emulator
from selvsync.marker import parse
from tests.harness import (
    EXAMPLES,
    ORGNO,
    TOKEN,
    ProjectDir,
    create_out_of_band,
    edit_out_of_band,
    idporten,
    make_emulator,
    raw_clients,
)


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    root = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".selvsync"))
    return root


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_readme_first_command_applies_then_plans_empty(
    quickstart: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "apply", "-C", str(quickstart), "--auto-approve")
    assert code == 0, err
    assert "12 applied, 0 failed, 0 not attempted" in out
    assert "Apply complete" in out
    code, out, err = run(capsys, "plan", "-C", str(quickstart), "--detailed-exitcode")
    assert code == 0, out + err
    assert "No changes" in out
    sink = quickstart / ".selvsync" / "secrets-test.json"
    assert sink.stat().st_mode & 0o777 == 0o600
    secret = json.loads(sink.read_text())["test"]["intranett"]["client_secret"]
    assert secret and secret not in out + err


def test_detailed_exitcode_reports_changes(
    quickstart: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "plan", "-C", str(quickstart), "--detailed-exitcode")
    assert code == 2
    assert "6 to create" in out


def test_json_plan_is_versioned(quickstart: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "-C", str(quickstart), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["format_version"] == 2
    assert data["summary"]["create"] == 6
    for change in data["changes"]:
        assert {"environment", "key", "action", "client_id"} <= set(change)


def test_apply_without_terminal_refuses(
    quickstart: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "apply", "-C", str(quickstart))
    assert code == 4
    assert "no terminal to confirm on" in err
    code, _, _ = run(capsys, "plan", "-C", str(quickstart), "--detailed-exitcode")
    assert code == 2  # nothing was applied


def test_plan_file_round_trip_and_second_apply_refused(
    quickstart: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planfile = tmp_path / "plan.json"
    code, _, err = run(capsys, "plan", "-C", str(quickstart), "--out", str(planfile))
    assert code == 0 and planfile.is_file(), err
    code, _, err = run(capsys, "apply", "-C", str(quickstart), str(planfile), "--auto-approve")
    assert code == 0, err
    code, _, err = run(capsys, "apply", "-C", str(quickstart), str(planfile), "--auto-approve")
    assert code == 4
    assert "planned for create but now exists" in err


def test_corrupt_plan_file_is_a_clear_error(
    quickstart: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"kind": "selvsync-plan", "format_version": 1, "environments": [')
    code, _, err = run(capsys, "apply", "-C", str(quickstart), str(bad), "--auto-approve")
    assert code == 3
    assert f"{bad}:1:1: not a selvsync plan file (invalid JSON" in err
    assert "Traceback" not in err


def test_unsafe_plan_refused_then_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = ProjectDir(tmp_path / "p")
    proj.write({"web": idporten("Web", protect=True), "other": idporten("Other")})
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    proj.write({"other": idporten("Other")})
    code, _, err = run(capsys, "plan", "-C", str(proj.root))
    assert code == 4 and "client 'web' is protected" in err
    code, _, err = run(capsys, "apply", "-C", str(proj.root), "--auto-approve")
    assert code == 4 and "nothing was applied" in err
    code, out, err = run(capsys, "apply", "-C", str(proj.root), "--auto-approve", "--force")
    assert code == 0, err
    assert "deactivate" in out


def test_rotate_secret_records_date_in_marker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = ProjectDir(tmp_path / "p")
    proj.write({"sak": idporten("Sak", token_endpoint_auth_method="client_secret_post")})
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    sink = proj.root / ".selvsync" / "secrets.json"
    first = json.loads(sink.read_text())["test"]["sak"]["client_secret"]
    code, out, err = run(capsys, "rotate-secret", "-C", str(proj.root), "--env", "test", "sak")
    assert code == 0, err
    second = json.loads(sink.read_text())["test"]["sak"]["client_secret"]
    assert second != first
    assert first not in out + err and second not in out + err
    code, out, _ = run(capsys, "plan", "-C", str(proj.root), "--detailed-exitcode")
    assert code == 0, out  # the rotation date in the marker is not a diff


def test_rotate_secret_of_key_client_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = ProjectDir(tmp_path / "p")
    proj.write({"web": idporten("Web")})
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    code, _, err = run(capsys, "rotate-secret", "-C", str(proj.root), "--env", "test", "web")
    assert code == 1 and "has no client secret to rotate" in err


def test_secret_client_without_sink_is_refused_before_any_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = ProjectDir(
        tmp_path / "p",
        project_yaml=('orgno: "991825827"\nenvironments:\n  test:\n    api: emulator\n'),
    )
    proj.write({"sak": idporten("Sak", token_endpoint_auth_method="client_secret_basic")})
    code, _, err = run(capsys, "apply", "-C", str(proj.root), "--auto-approve")
    assert code == 4 and "has no `secrets:` sink" in err
    code, _, _ = run(capsys, "plan", "-C", str(proj.root), "--detailed-exitcode")
    assert code == 2


def test_over_loopback_socket_with_token_auth(
    served: tuple[Emulator, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu, url = served
    monkeypatch.setenv("SELVSYNC_TEST_TOKEN", TOKEN)
    proj = ProjectDir(
        tmp_path / "p",
        project_yaml=(
            f'orgno: "{ORGNO}"\nowner: loop\nenvironments:\n  test:\n    api: {url}\n'
            "    auth: {method: token, token_env: SELVSYNC_TEST_TOKEN}\n"
            "    merchant_api: true\n"
        ),
    )
    proj.write({"web": idporten("Web")})
    # An empty listing from a real API could be a broken one: refused unless --force.
    code, _, err = run(capsys, "apply", "-C", str(proj.root), "--auto-approve")
    assert code == 4 and "Digdir returned no clients at all" in err
    assert raw_clients(emu) == []
    code, _, err = run(capsys, "-v", "apply", "-C", str(proj.root), "--auto-approve", "--force")
    assert code == 0, err
    assert TOKEN not in err
    (live,) = raw_clients(emu)
    _, marker = parse(live["description"])
    assert marker is not None and (marker.owner, marker.key) == ("loop", "web")
    code, out, err = run(capsys, "plan", "-C", str(proj.root), "--detailed-exitcode")
    assert code == 0, out + err


def test_stale_plan_message_golden(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    import os

    from tests.harness import factory_for

    emu = make_emulator(seed=11)
    monkeypatch.setattr("selvsync.cli.connecting.default_factory", lambda project: factory_for(emu))
    proj = ProjectDir(tmp_path / "p")
    proj.write({"web": idporten("Web"), "gone": idporten("Gone")})
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    proj.write({"web": idporten("Web", client_name="Web 2"), "new": idporten("New")})
    planfile = tmp_path / "plan.json"
    assert run(capsys, "plan", "-C", str(proj.root), "--out", str(planfile))[0] == 0
    # Out of band: someone edits 'web' in the portal and creates 'new' by another run.
    live = {c["client_id"]: c for c in raw_clients(emu)}
    (web_id,) = [cid for cid, c in live.items() if "k=web" in c["description"]]
    edit_out_of_band(emu, web_id, client_name="Edited in the portal")
    create_out_of_band(emu, idporten("New", description="[selvsync:v1 o=team-a k=new]"))
    before = emu.counters()
    code, _, err = run(capsys, "apply", "-C", str(proj.root), str(planfile), "--auto-approve")
    assert code == 4
    writes = [
        k for k in emu.counters() if not k.startswith("GET") and emu.counters()[k] != before.get(k)
    ]
    assert writes == []
    for cid in live:
        err = err.replace(cid, "<client_id>")
    golden = Path(__file__).parents[1] / "golden" / "stale-plan.txt"
    if request.config.getoption("--update-goldens") or os.environ.get("SELVSYNC_UPDATE_GOLDENS"):
        golden.write_text(err)
    assert err == golden.read_text(), "run pytest --update-goldens on purpose, then review"


def test_plan_out_into_a_missing_folder_is_a_usage_error_before_any_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "q"
    shutil.copytree(Path(__file__).parents[2] / "examples" / "quickstart", project)
    shutil.rmtree(project / ".selvsync", ignore_errors=True)
    code = main(["plan", "-C", str(project), "--out", str(tmp_path / "missing" / "plan.json")])
    assert code == 64
    assert "does not exist; create it first" in capsys.readouterr().err
    assert not (project / ".selvsync").exists()  # nothing was read, not even the emulator
