"""Secret sinks that fail: before any write (nothing may happen), and after Digdir returned the
secret (the error must name the client and the way out, and never show the secret)."""

from __future__ import annotations

from pathlib import Path

import pytest

from selvsync.emulator import Emulator
from selvsync.errors import ExitCode
from tests.harness import PROJECT_YAML, ProjectDir, idporten

from .support import (
    Canary,
    Cli,
    active_markers,
    client_id_of,
    secret_is_current,
    sink_entry,
    writes,
)

FILE_SINK = "secrets: {file: .selvsync/secrets.json}"


def _project(tmp_path: Path, sink: str) -> ProjectDir:
    proj = ProjectDir(tmp_path / "p", project_yaml=PROJECT_YAML.replace(FILE_SINK, sink))
    proj.write({"sak": idporten("Sak", token_endpoint_auth_method="client_secret_basic")})
    return proj


@pytest.mark.parametrize(
    ("sink", "message"),
    [
        (
            'secrets: {command: ["selvsync-no-such-secret-command"]}',
            "error: secret command 'selvsync-no-such-secret-command' is not found",
        ),
        # The sink file's place is taken by a folder: it can be neither read nor replaced.
        ("secrets: {file: .selvsync/taken}", "taken is unreadable or not JSON"),
    ],
    ids=["missing-command", "unusable-file"],
)
def test_sink_failing_before_the_write_stops_everything(
    sink: str, message: str, cli: Cli, emu: Emulator, tmp_path: Path
) -> None:
    proj = _project(tmp_path, sink)
    (proj.root / ".selvsync" / "taken").mkdir(parents=True)
    result = cli("apply", "-C", str(proj.root), "--auto-approve")
    assert result.code == ExitCode.ERROR, result.text
    assert message in result.err
    assert writes(emu) == {}  # the preflight ran before any write
    assert active_markers(emu) == {}


def test_sink_failing_after_the_write_names_the_client_and_the_way_out(
    cli: Cli, emu: Emulator, tmp_path: Path, canary: Canary
) -> None:
    # The command reads the secret, then fails: Digdir has issued a secret nobody stored.
    proj = _project(tmp_path, 'secrets: {command: ["sh", "-c", "cat >/dev/null; exit 3"]}')
    result = cli("apply", "-C", str(proj.root), "--auto-approve")
    cid = client_id_of(emu, "sak")
    assert result.code in (ExitCode.ERROR, ExitCode.PARTIAL), result.text
    assert f"sak ({cid}) was written but its new secret could not be stored" in result.out
    assert "selvsync rotate-secret --env test sak`" in result.out
    assert "every plan shows a rotate-secret for it" in result.out
    assert canary.issued and Canary.PREFIX not in result.text
    # The way out works: fix the sink, rotate, and the stored secret is the valid one.
    (proj.root / "selvsync.yaml").write_text(PROJECT_YAML)
    rotated = cli("rotate-secret", "-C", str(proj.root), "--env", "test", "sak")
    assert rotated.code == ExitCode.OK, rotated.text
    entry = sink_entry(proj, "sak")
    assert entry["client_id"] == cid and secret_is_current(emu, cid, entry["client_secret"])
    assert Canary.PREFIX not in rotated.text
    assert active_markers(emu) == {"sak": 1}
