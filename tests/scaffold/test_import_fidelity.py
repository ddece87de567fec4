"""Importing live clients that hold values Digdir accepts but selvsync's rules would not
write itself: a relative ``logo_uri``/``client_uri`` round-trips (adopt only); a value the
rules refuse (``http://``) is left out with a comment saying so, and the file validates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from selvsync.emulator import FULL_SCOPES, Emulator
from selvsync.model import DesiredState
from selvsync.scaffold.importer import import_environment
from selvsync.yaml import load_text
from tests.harness import ORGNO, TOKEN, ProjectDir, factory_for, idporten

from .test_importer import Seeded, import_registered, run  # noqa: F401  (fixture)


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    return Seeded(tmp_path / "p")


def _import(seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, Any], str]:
    env_file = seeded.root / "environments" / "test.yaml"
    env_file.unlink()
    code, _, err = run(
        capsys, "import", "-C", str(seeded.root), "--env", "test", "--out", str(env_file)
    )
    assert code == 0, err
    text = env_file.read_text()
    return text, load_text(text, "test.yaml").data["clients"], err


def test_relative_logo_and_client_uri_round_trip_to_adopt_only(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    (created,) = seeded.add([(idporten("Portal", description="Laget i portalen",
                                       logo_uri="bilde.gif", client_uri="/om-tjenesten"), None)])
    _, clients, _ = _import(seeded, capsys)
    (entry,) = clients.values()
    assert entry["logo_uri"] == "bilde.gif" and entry["client_uri"] == "/om-tjenesten"
    code, out, err = run(capsys, "validate", "-C", str(seeded.root))
    assert code == 0, out + err
    code, out, err = run(capsys, "plan", "-C", str(seeded.root), "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    (change,) = plan["changes"]
    assert change["action"] == "adopt" and change["client_id"] == created["client_id"]
    assert [f["field"] for f in change["fields"]] == ["description"]
    assert run(capsys, "apply", "-C", str(seeded.root), "--auto-approve")[0] == 0
    code, out, _ = run(capsys, "plan", "-C", str(seeded.root), "--detailed-exitcode")
    assert code == 0 and "No changes" in out
    assert seeded.live()[created["client_id"]]["logo_uri"] == "bilde.gif"


def test_a_refused_logo_is_kept_under_ignore_with_a_comment(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    (created,) = seeded.add([(idporten("Portal", description="Laget i portalen",
                                       logo_uri="http://portal.example.no/logo.png"), None)])
    text, clients, err = _import(seeded, capsys)
    (entry,) = clients.values()
    assert entry["logo_uri"] == "http://portal.example.no/logo.png"
    assert entry["ignore"] == ["logo_uri"]
    assert "  # logo_uri: kept as Digdir holds it although selvsync's rules refuse it" in text
    assert "portal: logo_uri is refused by selvsync's rules; kept as Digdir holds it" in err
    code, out, err = run(capsys, "validate", "-C", str(seeded.root))
    assert code == 0, out + err
    # The plan only adopts: an ignored field is neither compared nor written.
    code, out, err = run(capsys, "plan", "-C", str(seeded.root), "--format", "json")
    (change,) = json.loads(out)["changes"]
    assert change["action"] == "adopt"
    assert {f["field"] for f in change["fields"]} == {"description"}
    assert run(capsys, "apply", "-C", str(seeded.root), "--auto-approve")[0] == 0
    assert seeded.live()[created["client_id"]]["logo_uri"] == "http://portal.example.no/logo.png"


@pytest.mark.parametrize("keyless", ["empty", "404"])
def test_keyless_key_sets_import_without_keys(keyless: str, tmp_path: Path) -> None:
    emu = Emulator(keyless_jwks="empty" if keyless == "empty" else "keys")
    emu.add_token(TOKEN, ORGNO, FULL_SCOPES)
    if keyless == "404":
        emu.faults.add("status", method="GET", path="*/jwks", status=404)
    machine = {"integration_type": "maskinporten", "client_name": "Batch", "description": "x",
               "scopes": ["org:api.read"]}
    with httpx_client(emu) as http:
        assert http.post("/api/v1/clients", json=machine).status_code == 201
    project = ProjectDir(tmp_path / "p").load()
    with factory_for(emu)(project.environments["test"], "plan") as client:
        result = import_environment(client, DesiredState(project.environments["test"]), "team-a")
    (imported,) = result.clients
    assert imported.jwks == [] and "keys" not in imported.entry(with_keys=True)
    assert emu.counters()["GET /clients/{id}/jwks"] == 1


def httpx_client(emu: Emulator) -> httpx.Client:
    return httpx.Client(transport=emu.transport(), base_url="http://e",
                        headers={"Authorization": f"Bearer {TOKEN}"})
