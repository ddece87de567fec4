"""Live data is untrusted input.

A listing entry selvsync cannot use fails the plan (exit 1) naming the entry, and nothing is
created from it; text from the live side reaches the terminal, the CI log and the PR comment
with control and invisible characters escaped. The listing is served by the real emulator;
the broken entries are put in its answer the way a buggy or hostile API would send them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from selvsync.cli import main
from selvsync.emulator import Emulator
from selvsync.errors import ExitCode
from tests.harness import (
    ProjectDir,
    create_out_of_band,
    edit_out_of_band,
    factory_for,
    idporten,
    make_emulator,
)

HOSTILE = "Evil\x1b[31mRED\u202eabc</details>[x](http://e.vil)```\n# boom"


class _Tampered:
    """The emulator, with the client listing rewritten by ``edit``."""

    def __init__(self, emu: Emulator, edit: Any) -> None:
        self.emu = emu
        self.edit = edit

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "GET" or not environ["PATH_INFO"].endswith("/clients"):
            return self.emu.wsgi(environ, start_response)
        captured: dict[str, Any] = {}

        def keep(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = json.loads(b"".join(self.emu.wsgi(environ, keep)))
        data = json.dumps(self.edit(body)).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(data)))])
        return [data]


@pytest.fixture
def emu() -> Any:
    emulator = make_emulator()
    yield emulator
    emulator.close()


@pytest.fixture
def run(emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    state: dict[str, Any] = {"edit": None}

    def factory(project: Any, environ: Any = None) -> Any:
        if state["edit"] is None:
            return factory_for(emu)
        import httpx

        tampered = _Tampered(emu, state["edit"])
        return factory_for(emu, transport=httpx.WSGITransport(app=tampered.wsgi))

    monkeypatch.setattr("selvsync.cli.connecting.default_factory", factory)

    def invoke(*args: str, edit: Any = None) -> tuple[int, str, str]:
        state["edit"] = edit
        code = main(list(args))
        out, err = capsys.readouterr()
        return int(code), out, err

    return invoke


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda body: [*body, {"client_name": "no id"}],
            "cannot use, so nothing was planned from it:\n  entry 1 has no usable client_id",
        ),
        (lambda body: [*body, {"client_id": ""}], "has no usable client_id"),
        # The client itself refuses a listing that is not a list of objects.
        (lambda body: [*body, "just a string"], "expected a JSON array of clients"),
        (
            lambda body: [{**body[0], "redirect_uris": "https://a.example.no/cb"}],
            "field redirect_uris is str, not array",
        ),
        (lambda body: [{**body[0], "sso_disabled": "yes"}], "field sso_disabled is str"),
        (lambda body: [{**body[0], "access_token_lifetime": True}], "access_token_lifetime"),
    ],
    ids=["no-client-id", "empty-client-id", "not-an-object", "uris-string", "bool-string", "int"],
)
def test_an_unusable_listing_entry_fails_the_plan_and_creates_nothing(
    run: Any, emu: Emulator, tmp_path: Path, edit: Any, expected: str
) -> None:
    proj = ProjectDir(tmp_path / "p")
    proj.write({"a": idporten("A"), "b": idporten("B")})
    create_out_of_band(emu, idporten("Existing", description="made by hand"))
    emu.reset_counters()
    code, _out, err = run("apply", "-C", str(proj.root), "--auto-approve", edit=edit)
    assert code == ExitCode.ERROR, err
    assert expected in err
    assert "Traceback" not in err
    assert "POST /clients" not in emu.counters()


def test_live_text_is_escaped_in_text_markdown_and_messages(
    run: Any, emu: Emulator, tmp_path: Path
) -> None:
    live = create_out_of_band(emu, idporten("Orig", description="made by hand"))
    edit_out_of_band(emu, live["client_id"], client_name=HOSTILE, description=HOSTILE)
    proj = ProjectDir(tmp_path / "p")
    proj.write({"a": idporten("Mine", client_id=live["client_id"])})
    for fmt in ("text", "markdown", "json"):
        code, out, err = run("plan", "-C", str(proj.root), "--format", fmt)
        assert code == ExitCode.OK, err
        for raw in ("\x1b", "\u202e"):
            assert raw not in out and raw not in err, (fmt, raw)
        if fmt == "markdown":
            # Inside a fence longer than any run of backticks in the value: the value can
            # neither close the fence nor the <details> it sits in.
            fence = next(line for line in out.splitlines() if line.startswith("```"))
            assert len(fence) > 3
            assert out.count("</details>") == out.count("<details>") + 2  # two in the value
