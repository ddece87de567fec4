"""Inputs that could blow up or escape: variable expansion, keygen names, a broken emulator
database. Each is a clear error through the CLI, with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from selvsync.cli import main
from selvsync.errors import ExitCode
from tests.harness import idporten


def _project(root: Path, variables: str = "", clients: dict | None = None) -> Path:
    (root / "environments").mkdir(parents=True)
    (root / "selvsync.yaml").write_text(
        'orgno: "991825827"\nenvironments:\n  test:\n    api: emulator\n' + variables
    )
    (root / "environments" / "test.yaml").write_text(yaml.safe_dump({"clients": clients or {}}))
    return root


def test_variable_expansion_cannot_be_amplified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = "x" * 60_000
    client = idporten("A", description="${big}${big}${big}")
    root = _project(tmp_path / "p", f"    variables: {{big: {big}}}\n", {"a": client})
    assert main(["validate", "-C", str(root)]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "clients.a.description: expands to about 180" in err
    assert "more than the 65536 allowed" in err


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", ".hidden", "Web", "x" * 41, ""])
def test_keygen_takes_only_client_key_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    root = _project(tmp_path / "p")
    code = main(["keygen", "-C", str(root), name, "--out", str(tmp_path / "private.pem")])
    assert code == ExitCode.USAGE
    assert "is not a client key" in capsys.readouterr().err
    assert not (root / "keys").exists()
    assert not (tmp_path / "private.pem").exists()


def test_a_broken_emulator_database_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path / "p")
    db = root / ".selvsync" / "emulator-test.sqlite"
    db.parent.mkdir()
    db.write_bytes(b"not a database at all")
    assert main(["plan", "-C", str(root)]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "emulator-test.sqlite:1:1: environments.test.emulator_db:" in err
    assert "not a usable emulator database" in err
    assert "Traceback" not in err
    assert db.read_bytes() == b"not a database at all"


def test_the_emulator_command_refuses_a_broken_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "broken.sqlite"
    db.write_bytes(b"garbage")
    assert main(["emulator", "--db", str(db)]) == ExitCode.USAGE
    assert "not a usable emulator database" in capsys.readouterr().err
