"""A plan file is a request, not an authority: an edited one can never do more than a plan
made now from the configuration and live state would, and a malformed one is exit 3.

Each test edits a real plan file the way an attacker or a careless hand would, runs
``selvsync apply PLANFILE`` through the CLI and checks that nothing was written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from selvsync.emulator import Emulator
from selvsync.errors import ExitCode
from tests.harness import ProjectDir, idporten, raw_clients

from .support import Cli, client_id_of, create_out_of_band, edit_out_of_band, writes


def _edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _apply(cli: Cli, proj: ProjectDir, plan: Path) -> Any:
    return cli("apply", "-C", str(proj.root), str(plan), "--auto-approve")


def _active(emu: Emulator, client_id: str) -> bool:
    return any(c["client_id"] == client_id and c.get("active") for c in raw_clients(emu))


@pytest.fixture
def applied(cli: Cli, emu: Emulator, proj: ProjectDir) -> ProjectDir:
    proj.write({"a": idporten("A")})
    assert cli("apply", "-C", str(proj.root), "--auto-approve").code == ExitCode.OK
    emu.reset_counters()
    return proj


def test_a_deactivation_of_a_foreign_client_added_by_hand_is_refused(
    cli: Cli, emu: Emulator, applied: ProjectDir, tmp_path: Path
) -> None:
    foreign = create_out_of_band(
        emu, idporten("Theirs", description="Their login [selvsync:v1 o=other-team k=theirs]")
    )["client_id"]
    plan = tmp_path / "plan.json"
    assert cli("plan", "-C", str(applied.root), "--out", str(plan)).code == ExitCode.OK
    emu.reset_counters()

    def add_deactivation(data: dict[str, Any]) -> None:
        data["changes"].append(
            {
                "environment": "test",
                "key": "theirs",
                "action": "deactivate",
                "client_id": foreign,
                "fields": [],
                "notes": [],
                "body": None,
                "jwks": None,
                "returns_secret": False,
                "protected": False,
                "merchant": None,
            }
        )

    _edit(plan, add_deactivation)
    result = _apply(cli, applied, plan)
    assert result.code == ExitCode.REFUSED, result.text
    assert f"deactivate 'theirs' ({foreign})" in result.err
    assert "does not make this change" in result.err
    assert _active(emu, foreign)
    assert writes(emu) == {}


def test_refusals_and_protection_removed_by_hand_still_refuse(
    cli: Cli, emu: Emulator, proj: ProjectDir, tmp_path: Path
) -> None:
    proj.write({"a": idporten("A", protect=True)})
    assert cli("apply", "-C", str(proj.root), "--auto-approve").code == ExitCode.OK
    cid = client_id_of(emu, "a")
    proj.write({})
    plan = tmp_path / "plan.json"
    assert cli("plan", "-C", str(proj.root), "--out", str(plan)).code == ExitCode.REFUSED
    emu.reset_counters()

    def drop_refusals(data: dict[str, Any]) -> None:
        for env in data["environments"]:
            env["refusals"] = []
            env["blockers"] = []

    _edit(plan, drop_refusals)
    result = _apply(cli, proj, plan)
    assert result.code == ExitCode.REFUSED, result.text
    assert "refused: test:" in result.err and "protect" in result.err
    # Unprotecting the change itself only makes it differ from what selvsync would do.
    _edit(plan, lambda data: [c.update(protected=False) for c in data["changes"]])
    result = _apply(cli, proj, plan)
    assert result.code == ExitCode.REFUSED, result.text
    assert "would do it differently" in result.err
    assert _active(emu, cid)
    assert writes(emu) == {}


def test_an_out_of_band_edit_is_not_overwritten_when_the_fingerprints_were_removed(
    cli: Cli, emu: Emulator, applied: ProjectDir, tmp_path: Path
) -> None:
    applied.write({"a": idporten("A", client_uri="https://a.example.no/about")})
    plan = tmp_path / "plan.json"
    assert cli("plan", "-C", str(applied.root), "--out", str(plan)).code == ExitCode.OK
    cid = client_id_of(emu, "a")
    edit_out_of_band(emu, cid, client_name="Renamed in the portal")
    emu.reset_counters()

    def forget_fingerprints(data: dict[str, Any]) -> None:
        for env in data["environments"]:
            env["fingerprints"] = {}

    _edit(plan, forget_fingerprints)
    result = _apply(cli, applied, plan)
    assert result.code == ExitCode.REFUSED, result.text
    assert "would do it differently" in result.err
    (live,) = [c for c in raw_clients(emu) if c["client_id"] == cid]
    assert live["client_name"] == "Renamed in the portal"
    assert writes(emu) == {}


def test_an_unedited_plan_file_still_applies(
    cli: Cli, emu: Emulator, applied: ProjectDir, tmp_path: Path
) -> None:
    applied.write({"a": idporten("A", client_uri="https://a.example.no/about")})
    plan = tmp_path / "plan.json"
    assert cli("plan", "-C", str(applied.root), "--out", str(plan)).code == ExitCode.OK
    result = _apply(cli, applied, plan)
    assert result.code == ExitCode.OK, result.text
    (live,) = [c for c in raw_clients(emu) if c["client_id"] == client_id_of(emu, "a")]
    assert live["client_uri"] == "https://a.example.no/about"


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.update(changes="everything"), "changes: expected a list"),
        (
            lambda d: d["environments"][0].update(fingerprints=[]),
            "fingerprints: expected a mapping",
        ),
        (lambda d: d.update(orgno=991825827), "orgno: expected a string"),
        (lambda d: d.update(surprise=True), "surprise: unknown key"),
        (lambda d: d.update(kind="something-else"), "kind"),
        (lambda d: d["environments"][0].pop("absent"), "absent: required key is missing"),
    ],
    ids=["changes-string", "fingerprints-list", "orgno-number", "unknown-key", "kind", "no-absent"],
)
def test_a_plan_file_of_the_wrong_shape_is_exit_3_naming_the_place(
    cli: Cli, emu: Emulator, applied: ProjectDir, tmp_path: Path, edit: Any, expected: str
) -> None:
    plan = tmp_path / "plan.json"
    assert cli("plan", "-C", str(applied.root), "--out", str(plan)).code == ExitCode.OK
    _edit(plan, edit)
    emu.reset_counters()
    result = _apply(cli, applied, plan)
    assert result.code == ExitCode.CONFIG, result.text
    assert str(plan) in result.err
    assert expected in result.err
    assert "Traceback" not in result.text
    assert emu.counters() == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_nested(100_000), "nested too deeply"),
        ('{"format_version": ' + "9" * 5000 + "}", "invalid JSON"),
        ("\x00\x01not json", "invalid JSON"),
    ],
    ids=["deep", "huge-integer", "binary"],
)
def test_hostile_json_is_exit_3(
    cli: Cli, applied: ProjectDir, tmp_path: Path, text: str, expected: str
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(text)
    result = _apply(cli, applied, plan)
    assert result.code == ExitCode.CONFIG, result.text
    assert expected in result.err
    assert "Traceback" not in result.text


def test_a_plan_file_that_is_a_fifo_is_refused_at_once(
    cli: Cli, applied: ProjectDir, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    os.mkfifo(plan)  # opening it for reading would block for ever
    result = _apply(cli, applied, plan)
    assert result.code == ExitCode.CONFIG, result.text
    assert "not a regular file" in result.err
