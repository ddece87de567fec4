"""Scopes as code, end to end through the CLI against the emulator (in-process and over a
loopback socket): declare, plan, apply, change, revoke under and over the limit, a pending
request, DENIED, the empty-list answer, import round trip, and a saved plan caught by an
out-of-band grant."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from selvsync.api.auth import StaticTokenProvider
from selvsync.api.client import DigdirClient
from selvsync.api.errors import HttpStatusError
from selvsync.api.scopes import ScopesApi
from selvsync.cli import main
from selvsync.emulator import FULL_SCOPES, Emulator
from selvsync.live.planning import plan_project
from selvsync.live.session import Session
from selvsync.model import EnvironmentSettings
from selvsync.sensitive.value import Secret
from selvsync.yaml import dump
from tests.harness import ORGNO, PREFIX, TOKEN, factory_for, make_emulator, raw_http

CONSUMER = "974760673"
OTHER = "910298062"
THIRD = "964338531"

PROJECT = f"""\
orgno: "{ORGNO}"
owner: provider
environments:
  test:
    api: emulator
    scopes:
      prefixes: [skatt]
      max_revocations: {{max_revocations}}
      consumer_check: {{consumer_check}}
consumer_groups:
  kommuner:
    "{THIRD}": Bergen kommune
"""


class Provider:
    def __init__(self, root: Path, max_revocations: int = 5, consumer_check: str = "warn"):
        self.root = root
        (root / "environments").mkdir(parents=True, exist_ok=True)
        self.settings(max_revocations, consumer_check)

    def settings(self, max_revocations: int = 5, consumer_check: str = "warn") -> None:
        text = PROJECT.format(max_revocations=max_revocations, consumer_check=consumer_check)
        (self.root / "selvsync.yaml").write_text(text)

    def write(self, scopes: dict[str, Any], clients: dict[str, Any] | None = None) -> None:
        doc = {"clients": clients or {}, "scopes": scopes}
        (self.root / "environments" / "test.yaml").write_text(dump(doc))


def scope(description: str = "Demo", consumers: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    return {"description": description, "consumers": list(consumers), **extra}


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Emulator:
    emu = make_emulator()
    emu.add_prefix(ORGNO, "skatt")
    emu.add_organization(CONSUMER, "Konsument AS")
    emu.add_organization(OTHER, "Leverandør AS")
    monkeypatch.setattr("selvsync.cli.connecting.default_factory", lambda p: factory_for(emu))
    return emu


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr, each with runs of blanks squashed (column padding)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    if "json" in args:
        return code, out, err
    return code, _squash(out), _squash(err)


def _squash(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def access(emu: Emulator, name: str) -> dict[str, str]:
    with raw_http(emu) as http:
        response = http.get(f"{PREFIX}/scopes/access", params={"scope": name})
        if response.status_code == 404:
            return {}
        return {e["consumer_orgno"]: e["state"] for e in response.json()}


def live_scope(emu: Emulator, name: str) -> dict[str, Any]:
    with raw_http(emu) as http:
        response = http.get(f"{PREFIX}/scopes", params={"scope": name, "inactive": "true"})
        response.raise_for_status()
        data = response.json()
        return data[0] if isinstance(data, list) else data  # type: ignore[no-any-return]


def test_declare_apply_change_and_converge(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = Provider(tmp_path)
    proj.write({
        "skatt:demo.read": scope("Les demo", [CONSUMER], visibility="PRIVATE",
                                 consumer_groups=["kommuner"], **{"description#en": "Read"}),
        "skatt:demo.write": scope("Skriv demo", at_max_age=60),
    })
    code, out, err = run(capsys, "plan", "-C", str(proj.root), "--detailed-exitcode")
    assert code == 2, err
    assert "scope-create skatt:demo.read" in out
    assert "grant skatt:demo.read -> 974760673" in out
    assert "Bergen kommune (964338531)" in out
    code, out, err = run(capsys, "apply", "-C", str(proj.root), "--auto-approve")
    assert code == 0, out + err
    assert access(emu, "skatt:demo.read") == {CONSUMER: "APPROVED", THIRD: "APPROVED"}
    assert live_scope(emu, "skatt:demo.read")["description#en"] == "Read"
    assert run(capsys, "plan", "-C", str(proj.root), "--detailed-exitcode")[0] == 0

    # A field changes: one scope-update with a field-level diff, then nothing.
    proj.write({
        "skatt:demo.read": scope("Les demo", [CONSUMER], visibility="PUBLIC",
                                 consumer_groups=["kommuner"], **{"description#en": "Read"}),
        "skatt:demo.write": scope("Skriv demo", at_max_age=60),
    })
    code, out, _ = run(capsys, "plan", "-C", str(proj.root), "--format", "json")
    doc = json.loads(out)
    (change,) = doc["changes"]
    assert change["action"] == "scope-update" and change["key"] == "skatt:demo.read"
    assert change["fields"] == [{"field": "visibility", "before": "PRIVATE", "after": "PUBLIC"}]
    assert doc["summary"]["scope-update"] == 1
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    assert run(capsys, "plan", "-C", str(proj.root), "--detailed-exitcode")[0] == 0


def test_revocations_under_and_over_the_limit_and_protect(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = Provider(tmp_path, max_revocations=1)
    proj.write({"skatt:a.read": scope("A", [CONSUMER, OTHER, THIRD])})
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    # One revocation: under the limit; the plan names the organisation.
    proj.write({"skatt:a.read": scope("A", [OTHER, THIRD])})
    code, out, _ = run(capsys, "plan", "-C", str(proj.root))
    assert "revoke" in out and "Konsument AS (974760673)" in out and "loses access" in out
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    assert access(emu, "skatt:a.read") == {OTHER: "APPROVED", THIRD: "APPROVED"}
    # Two revocations: over the limit, refused (exit 4) unless --force.
    proj.write({"skatt:a.read": scope("A", [])})
    code, out, err = run(capsys, "apply", "-C", str(proj.root), "--auto-approve")
    assert code == 4 and "2 access revocations (limit 1)" in err
    assert len(access(emu, "skatt:a.read")) == 2
    # A protected scope refuses any revocation.
    proj.settings(max_revocations=5)
    proj.write({"skatt:a.read": scope("A", [OTHER], protect=True)})
    code, _, err = run(capsys, "apply", "-C", str(proj.root), "--auto-approve")
    assert code == 4 and "scope 'skatt:a.read' is protected" in err
    code, _, err = run(capsys, "apply", "-C", str(proj.root), "--auto-approve", "--force")
    assert code == 0, err
    assert access(emu, "skatt:a.read") == {OTHER: "APPROVED"}


def test_orphans_are_deactivated_reactivated_and_foreign_prefixes_untouched(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.add_prefix(ORGNO, "annet")
    with raw_http(emu) as http:
        http.post(f"{PREFIX}/scopes", json={"prefix": "annet", "subscope": "x",
                                            "description": "Not ours"}).raise_for_status()
    proj = Provider(tmp_path)
    proj.write({"skatt:a.read": scope("A"), "skatt:b.read": scope("B")})
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    proj.write({"skatt:a.read": scope("A")})
    out = run(capsys, "plan", "-C", str(proj.root))[1]
    assert "scope-deactivate skatt:b.read" in out and "annet:x" not in out
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    assert live_scope(emu, "skatt:b.read")["active"] is False
    assert live_scope(emu, "annet:x")["active"] is True
    proj.write({"skatt:a.read": scope("A"), "skatt:b.read": scope("B", [CONSUMER])})
    out = run(capsys, "plan", "-C", str(proj.root))[1]
    assert "scope-reactivate skatt:b.read" in out
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    assert live_scope(emu, "skatt:b.read")["active"] is True
    assert access(emu, "skatt:b.read") == {CONSUMER: "APPROVED"}
    assert run(capsys, "plan", "-C", str(proj.root), "--detailed-exitcode")[0] == 0


def test_pending_request_is_shown_then_approved_by_declaring_it(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = Provider(tmp_path)
    proj.write({"skatt:a.read": scope("A")})
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    emu.request_access("skatt:a.read", CONSUMER)
    code, out, _ = run(capsys, "plan", "-C", str(proj.root), "--detailed-exitcode")
    assert code == 0  # left pending: no change
    assert "pending request: Konsument AS (974760673) asked for 'skatt:a.read'" in out
    assert 'add "974760673" to the scope\'s `consumers:`' in out
    assert "to leave it pending, do nothing" in out
    proj.write({"skatt:a.read": scope("A", [CONSUMER])})
    code, out, _ = run(capsys, "plan", "-C", str(proj.root))
    assert "approves the pending request from Konsument AS (974760673)" in out
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    assert access(emu, "skatt:a.read") == {CONSUMER: "APPROVED"}


def test_denied_is_never_granted_silently(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = Provider(tmp_path)
    proj.write({"skatt:a.read": scope("A")})
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    emu.deny_access("skatt:a.read", CONSUMER)
    assert run(capsys, "plan", "-C", str(proj.root), "--detailed-exitcode")[0] == 0
    proj.write({"skatt:a.read": scope("A", [CONSUMER])})
    code, _, err = run(capsys, "apply", "-C", str(proj.root), "--auto-approve", "--force")
    assert code == 4 and "was DENIED access" in err and "regrant_denied" in err
    assert access(emu, "skatt:a.read") == {CONSUMER: "DENIED"}
    proj.write({"skatt:a.read": scope("A", [CONSUMER], regrant_denied=[CONSUMER])})
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    assert access(emu, "skatt:a.read") == {CONSUMER: "APPROVED"}


def test_saved_plan_is_stale_after_an_out_of_band_grant(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = Provider(tmp_path)
    proj.write({"skatt:a.read": scope("A", [CONSUMER])})
    assert run(capsys, "apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    proj.write({"skatt:a.read": scope("A v2", [CONSUMER])})
    planfile = tmp_path / "plan.json"
    assert run(capsys, "plan", "-C", str(proj.root), "--out", str(planfile))[0] == 0
    saved = json.loads(planfile.read_text())
    assert "skatt:a.read/access" in saved["environments"][0]["scope_fingerprints"]
    with raw_http(emu) as http:  # someone grants access in the portal meanwhile
        http.put(f"{PREFIX}/scopes/access/{OTHER}", params={"scope": "skatt:a.read"})
    code, _, err = run(capsys, "apply", "-C", str(proj.root), str(planfile), "--auto-approve")
    assert code == 4
    assert "who may use scope 'skatt:a.read' changed since the plan was made" in err
    assert live_scope(emu, "skatt:a.read")["description"] == "A"


def test_import_round_trip(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with raw_http(emu) as http:
        http.post(f"{PREFIX}/scopes", json={
            "prefix": "skatt", "subscope": "gammel.read", "description": "Gammel",
            "visibility": "PRIVATE", "at_max_age": 30, "description#en": "Old",
        }).raise_for_status()
        http.post(f"{PREFIX}/scopes", json={"prefix": "skatt", "subscope": "tom",
                                            "description": "Ingen"}).raise_for_status()
        http.put(f"{PREFIX}/scopes/access/{CONSUMER}", params={"scope": "skatt:gammel.read"})
    emu.request_access("skatt:gammel.read", OTHER)
    proj = Provider(tmp_path)
    out_file = tmp_path / "imported.yaml"
    code, _, err = run(capsys, "import", "-C", str(proj.root), "--env", "test", "--scopes",
                       "--out", str(out_file))
    assert code == 0, err
    assert "imported 2 scope(s)" in err and "Leverandør AS (910298062) is REQUESTED" in err
    text = out_file.read_text()
    assert "974760673: Konsument AS" in text
    (proj.root / "environments" / "test.yaml").write_text("clients: {}\n" + text)
    code, out, err = run(capsys, "plan", "-C", str(proj.root), "--detailed-exitcode")
    assert code == 0, out + err
    assert "pending request: Leverandør AS (910298062)" in out


def test_the_empty_list_answer_is_none_and_an_error_is_an_error(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = EnvironmentSettings("test", api="emulator")
    with factory_for(emu)(settings, "plan") as client:
        api = ScopesApi(client)
        assert api.list_scopes() == [] and api.consumer_access() == []  # 404 "does not have any"
        emu.faults.add("status", method="GET", path="/api/v1/scopes", status=404, times=1)
        with pytest.raises(HttpStatusError):
            api.list_scopes()  # a 404 that does not say "does not have any" is an error
    proj = Provider(tmp_path)
    proj.write({"skatt:a.read": scope("A")})
    emu.faults.add("status", method="GET", path="/api/v1/scopes", status=500)
    code, _, _ = run(capsys, "plan", "-C", str(proj.root))
    assert code == 1  # never "no scopes, create everything"


def test_consumer_side_check_warns_or_refuses(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.add_prefix(CONSUMER, "andre")
    emu.add_token("consumer-token", CONSUMER, FULL_SCOPES)
    other = {"Authorization": "Bearer consumer-token"}
    with raw_http(emu) as http:
        for sub in ("ok.read", "nei.read"):
            http.post(f"{PREFIX}/scopes", headers=other, json={
                "prefix": "andre", "subscope": sub, "description": sub}).raise_for_status()
        http.put(f"{PREFIX}/scopes/access/{ORGNO}", headers=other,
                 params={"scope": "andre:ok.read"}).raise_for_status()
    client = {
        "integration_type": "maskinporten", "client_name": "Batch",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "scopes": ["andre:ok.read", "andre:nei.read", "skatt:a.read"],
    }
    proj = Provider(tmp_path)
    proj.write({"skatt:a.read": scope("A")}, clients={"batch": client})
    code, out, _ = run(capsys, "plan", "-C", str(proj.root))
    assert code == 0
    assert "client 'batch' declares scope 'andre:nei.read'" in out
    assert "andre:ok.read'" not in out and "declares scope 'skatt:a.read'" not in out
    proj.settings(consumer_check="refuse")
    code, _, err = run(capsys, "plan", "-C", str(proj.root))
    assert code == 4 and "no approved access" in err


class RecordingTokens(StaticTokenProvider):
    def __init__(self) -> None:
        super().__init__(Secret(TOKEN))
        self.asked: set[tuple[str, ...]] = set()

    def access_token(self, scopes: Sequence[str]) -> str:
        self.asked.add(tuple(scopes))
        return super().access_token(scopes)


def test_scope_write_token_only_when_the_plan_changes_scopes(
    emu: Emulator, tmp_path: Path
) -> None:
    from selvsync.apply.runner import apply_plan
    from selvsync.config import load_project

    tokens = RecordingTokens()

    def factory(env: EnvironmentSettings, command: str) -> DigdirClient:
        scopes = ["idporten:dcr.read"] + (["idporten:dcr.write"] if command == "apply" else [])
        return DigdirClient("http://emulator.invalid", prefix=env.prefix, token_provider=tokens,
                            scopes=scopes, transport=emu.transport())

    proj = Provider(tmp_path)
    proj.write({"skatt:a.read": scope("A", [CONSUMER])})
    with Session(load_project(proj.root), factory, command="plan") as session:
        plan_project(session)
    assert ("idporten:scopes.write",) not in tokens.asked
    assert ("idporten:scopes.read",) in tokens.asked
    with Session(load_project(proj.root), factory, command="apply") as session:
        plan = plan_project(session)
        assert apply_plan(session, plan).ok
    assert ("idporten:scopes.write",) in tokens.asked
    tokens.asked.clear()
    with Session(load_project(proj.root), factory, command="apply") as session:
        plan = plan_project(session)
        assert plan.empty
        apply_plan(session, plan)
    assert ("idporten:scopes.write",) not in tokens.asked


def test_over_loopback_with_token_auth(
    served: tuple[Emulator, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu, url = served
    emu.add_prefix(ORGNO, "skatt")
    emu.add_organization(CONSUMER, "Konsument AS")
    monkeypatch.setenv("SELVSYNC_TEST_TOKEN", TOKEN)
    (tmp_path / "environments").mkdir()
    (tmp_path / "selvsync.yaml").write_text(
        f'orgno: "{ORGNO}"\nowner: loop\nenvironments:\n  test:\n    api: {url}\n'
        "    auth: {method: token, token_env: SELVSYNC_TEST_TOKEN}\n"
        "    scopes: {prefixes: [skatt]}\n"
    )
    (tmp_path / "environments" / "test.yaml").write_text(dump({
        "clients": {}, "scopes": {"skatt:loop.read": scope("Loop", [CONSUMER])}}))
    code, out, err = run(capsys, "apply", "-C", str(tmp_path), "--auto-approve")
    assert code == 0, out + err
    assert access(emu, "skatt:loop.read") == {CONSUMER: "APPROVED"}
    code, out, err = run(capsys, "plan", "-C", str(tmp_path), "--detailed-exitcode")
    assert code == 0, out + err
    counters = emu.counters()
    assert counters["GET /scopes/access"] >= 2
    assert counters["PUT /scopes/access/{consumer_orgno}"] == 1
