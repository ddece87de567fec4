"""Two environments that reach one live organisation: an error, or shared on purpose.

Without `shares_live_with`, `apply --env staging` would take test's clients for its own
orphans and deactivate them. Through the CLI against the embedded emulator (two environments
pointing at one emulator database are one live organisation).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from selvsync.cli import main
from selvsync.errors import ExitCode
from tests.harness import idporten, raw_clients  # noqa: F401


def _project(root: Path, staging_extra: str = "", staging_clients: dict | None = None) -> Path:
    (root / "environments").mkdir(parents=True)
    (root / "selvsync.yaml").write_text(
        'orgno: "991825827"\n'
        "owner: team\n"
        "environments:\n"
        "  test:\n"
        "    api: emulator\n"
        "    emulator_db: .selvsync/shared.sqlite\n"
        "  staging:\n"
        "    api: emulator\n"
        "    emulator_db: .selvsync/shared.sqlite\n" + staging_extra
    )
    (root / "environments" / "test.yaml").write_text(
        yaml.safe_dump({"clients": {"a": idporten("A")}})
    )
    (root / "environments" / "staging.yaml").write_text(
        yaml.safe_dump(
            {"clients": staging_clients if staging_clients is not None else {"b": idporten("B")}}
        )
    )
    return root


def _active_keys(root: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(root / ".selvsync" / "shared.sqlite") as db:
        rows = db.execute("select fields, active from clients").fetchall()
    import json

    return sorted(
        json.loads(fields)["description"].split("k=")[1].rstrip("]")
        for fields, active in rows
        if active
    )


def test_two_environments_on_one_live_organisation_are_an_error(tmp_path: Path, capsys) -> None:
    root = _project(tmp_path / "p")
    assert main(["validate", "-C", str(root)]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert (
        "selvsync.yaml:8:10: environments.staging: environments test and staging reach "
        "the same API and organisation" in err
    )
    assert "declare `shares_live_with: [test]` on staging" in err
    # Nothing was read or written for any environment.
    assert main(["apply", "-C", str(root), "--env", "staging", "--auto-approve"]) == ExitCode.CONFIG
    assert not (root / ".selvsync" / "shared.sqlite").exists()


def test_two_digdir_environments_with_one_api_are_an_error(tmp_path: Path, capsys) -> None:
    root = tmp_path / "p"
    (root / "environments").mkdir(parents=True)
    auth = "    auth: {method: token, token_env: T}\n"
    (root / "selvsync.yaml").write_text(
        'orgno: "991825827"\nenvironments:\n  test:\n    digdir: test\n'
        + auth
        + "  staging:\n    api: https://api.test.samarbeid.digdir.no/\n"
        + auth
    )
    for env in ("test", "staging"):
        (root / "environments" / f"{env}.yaml").write_text("clients: {}\n")
    assert main(["validate", "-C", str(root)]) == ExitCode.CONFIG
    assert "environments test and staging reach the same API" in capsys.readouterr().err


def test_environments_sharing_on_purpose_leave_each_others_clients_alone(
    tmp_path: Path, capsys
) -> None:
    root = _project(tmp_path / "p", "    shares_live_with: [test]\n")
    assert main(["validate", "-C", str(root)]) == ExitCode.OK
    assert main(["apply", "-C", str(root), "--env", "test", "--auto-approve"]) == ExitCode.OK
    assert main(["apply", "-C", str(root), "--env", "staging", "--auto-approve"]) == ExitCode.OK
    assert _active_keys(root) == ["a", "b"]
    # Each environment's plan is empty: neither sees the other's client as an orphan.
    capsys.readouterr()
    for env in ("test", "staging"):
        assert main(["plan", "-C", str(root), "--env", env, "--detailed-exitcode"]) == ExitCode.OK
    # Removing staging's client deactivates only that one (it is every client staging
    # manages, which is refused unless --allow-over-limit says so).
    (root / "environments" / "staging.yaml").write_text("clients: {}\n")
    assert main(["apply", "-C", str(root), "--env", "staging", "--auto-approve",
                 "--allow-over-limit"]) == ExitCode.OK
    assert _active_keys(root) == ["a"]


def test_sharing_environments_must_declare_distinct_keys(tmp_path: Path, capsys) -> None:
    root = _project(
        tmp_path / "p", "    shares_live_with: [test]\n", staging_clients={"a": idporten("A")}
    )
    assert main(["validate", "-C", str(root), "--env", "staging"]) == ExitCode.CONFIG
    assert "'a' is declared in both staging and test" in capsys.readouterr().err
