"""A recognisable secret from the emulator must appear nowhere but in the secret sink: not in
stdout, stderr, logs at any verbosity, plan files, JSON, Markdown or error tracebacks, in raw,
JSON-escaped, base64 or URL-encoded form. A second test turns the redaction off and shows the
detector then finds the leak, so the first test cannot pass by looking in the wrong places."""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from selvsync.cli import main
from selvsync.emulator import FULL_SCOPES, Emulator
from tests.harness import ProjectDir, factory_for, idporten

CANARY = 'CANARY-s3cr3t/+="value"-7731'
ORGNO = "991825827"


def _forms(secret: str) -> list[str]:
    return [
        secret,
        json.dumps(secret)[1:-1],
        base64.b64encode(secret.encode()).decode(),
        base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
        quote(secret, safe=""),
        quote_plus(secret),
    ]


def _leaks(text: str) -> list[str]:
    return [form for form in _forms(CANARY) if form in text]


@pytest.fixture
def emu() -> Emulator:
    from tests.harness import TOKEN

    emulator = Emulator(":memory:", secret_factory=lambda: CANARY)
    emulator.add_token(TOKEN, ORGNO, FULL_SCOPES)
    return emulator


def _scenario(
    emu: Emulator,
    root: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """Run every command that touches a secret; yield everything a person or CI could see."""
    monkeypatch.setattr("selvsync.cli.connecting.default_factory", lambda project: factory_for(emu))
    caplog.set_level(logging.DEBUG)
    proj = ProjectDir(root)
    proj.write({"sak": idporten("Sak", token_endpoint_auth_method="client_secret_basic")})
    planfile = root / "plan.json"
    main(["-vv", "plan", "-C", str(root), "--out", str(planfile)])
    main(["-vv", "plan", "-C", str(root), "--format", "json"])
    main(["-vv", "plan", "-C", str(root), "--format", "markdown"])
    main(["-vv", "apply", "-C", str(root), str(planfile), "--auto-approve"])
    main(["-vv", "rotate-secret", "-C", str(root), "--env", "test", "sak"])
    # The server echoes the secret in an error: the error text must still not show it.
    echo = json.dumps(
        {
            "status": 400,
            "error": "invalid_client_metadata",
            "error_description": f"client_secret {CANARY} is wrong",
            "errors": [{"errorMessage": f"secret={CANARY}"}],
        }
    )
    emu.faults.add("status", method="PUT", path="/api/v1/clients/*", status=400, body=echo, times=1)
    proj.write(
        {
            "sak": idporten(
                "Sak", client_name="Sak 2", token_endpoint_auth_method="client_secret_basic"
            )
        }
    )
    main(["-vv", "apply", "-C", str(root), "--auto-approve"])
    # A sink that fails after Digdir returned a secret.
    text = (
        (root / "selvsync.yaml")
        .read_text()
        .replace("secrets: {file: .selvsync/secrets.json}", 'secrets: {command: ["false"]}')
    )
    (root / "selvsync.yaml").write_text(text)
    main(["-vv", "rotate-secret", "-C", str(root), "--env", "test", "sak"])
    captured = capsys.readouterr()
    yield captured.out
    yield captured.err
    yield planfile.read_text()
    for record in caplog.records:
        yield record.getMessage()
        if record.exc_info:
            yield "".join(traceback.format_exception(*record.exc_info))
    # The library's own exception, formatted as a traceback.
    from selvsync.errors import SelvsyncError
    from selvsync.live.planning import plan_project
    from selvsync.live.session import Session

    emu.faults.add("status", method="PUT", path="/api/v1/clients/*", status=400, body=echo, times=1)
    from selvsync.apply.runner import apply_plan

    with Session(proj.load(), factory_for(emu), command="apply") as session:
        report = apply_plan(session, plan_project(session))
    for outcome in report.outcomes:
        yield outcome.message
        try:
            raise SelvsyncError(outcome.message)
        except SelvsyncError as exc:
            yield "".join(traceback.format_exception(exc))


def test_canary_secret_never_shown(
    emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = list(_scenario(emu, tmp_path / "p", capsys, caplog, monkeypatch))
    assert any("(redacted)" in text for text in seen)  # the echo path really ran
    assert any(
        "could not be stored" in text and "selvsync rotate-secret --env test sak" in text
        for text in seen
    )  # the failing sink path really ran
    for text in seen:
        assert _leaks(text) == [], text
    sink = json.loads((tmp_path / "p" / ".selvsync" / "secrets.json").read_text())
    assert sink["test"]["sak"]["client_secret"] == CANARY


def test_detector_finds_the_leak_when_redaction_is_off(
    emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import selvsync.api.errors
    import selvsync.api.sender

    for module in (selvsync.api.errors, selvsync.api.sender):
        monkeypatch.setattr(module, "redact", lambda text: text)
    seen = list(_scenario(emu, tmp_path / "p", capsys, caplog, monkeypatch))
    assert any(_leaks(text) for text in seen)
