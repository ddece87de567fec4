"""Importing live clients that hold values Digdir accepts but selvsync's rules would not
write itself: a relative ``logo_uri``/``client_uri`` round-trips (adopt only); a value the
rules refuse (``http://``) is left out with a comment saying so, and the file validates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selvsync.yaml import load_text
from tests.harness import idporten

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


def test_a_refused_logo_is_left_out_with_a_comment(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded.add([(idporten("Portal", description="Laget i portalen",
                          logo_uri="http://portal.example.no/logo.png"), None)])
    text, clients, err = _import(seeded, capsys)
    (entry,) = clients.values()
    assert "logo_uri" not in entry
    assert ('    # logo_uri: "http://portal.example.no/logo.png" is set at Digdir but left out '
            "here (must use https://)") in text
    assert 'portal: logo_uri "http://portal.example.no/logo.png" left out' in err
    code, out, err = run(capsys, "validate", "-C", str(seeded.root))
    assert code == 0, out + err
    # The plan is honest about it: adopting removes the value nobody declared.
    code, out, err = run(capsys, "plan", "-C", str(seeded.root), "--format", "json")
    (change,) = json.loads(out)["changes"]
    assert change["action"] == "adopt"
    assert {f["field"] for f in change["fields"]} == {"description", "logo_uri"}
