"""onbehalfof entries as code, end to end through the CLI against the emulator: created,
changed, deleted (refused over the limits), both field spellings, generated from the
organisations list, the least-privilege token for entry writes, plan files, and another
organisation's client (403).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from selvsync.api.client import DigdirClient
from selvsync.api.errors import CredentialsError, ForbiddenError
from selvsync.api.onbehalfof import OnBehalfOfApi
from selvsync.api.retry import RetryPolicy
from selvsync.emulator import FULL_SCOPES, Emulator
from selvsync.model import EnvironmentSettings, Project
from selvsync.yaml import dump
from tests.e2e.test_organisations import CUSTOMERS, SUPPLIER, login, token

READ = "idporten:dcr.read"
WRITE = "idporten:dcr.write"
OBO_WRITE = "idporten:dcr/onbehalfof:write"
OTHER = CUSTOMERS[19]  # an organisation with a login client of its own

CliRun = Callable[..., tuple[int, str, str]]


class Recording(httpx.BaseTransport):
    """The emulator's transport, remembering each request (method, path, JSON body)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.seen.append((request.method, request.url.path, body))
        return self.inner.handle_request(request)

    def entry_writes(self) -> list[tuple[str, str, Any]]:
        return [s for s in self.seen if "/onbehalfof" in s[1] and s[0] != "GET"]


class Granting:
    """A token provider that, like Maskinporten, grants exactly the scopes asked for (and
    refuses any the admin client was not given); it remembers every set asked for."""

    def __init__(self, emu: Emulator, orgno: str, allowed: Sequence[str]) -> None:
        self.emu, self.orgno, self.allowed = emu, orgno, set(allowed)
        self.asked: list[tuple[str, ...]] = []

    def access_token(self, scopes: Sequence[str]) -> str:
        wanted = tuple(scopes)
        self.asked.append(wanted)
        if set(wanted) - self.allowed:
            raise CredentialsError(f"invalid_scope: {sorted(set(wanted) - self.allowed)}")
        value = f"t-{self.orgno}-{'+'.join(sorted(wanted))}"
        self.emu.add_token(value, self.orgno, wanted)
        return value

    def invalidate(self, token: str | None = None) -> None:
        pass


class Setup:
    def __init__(self, root: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch,
                 *, scopes: Sequence[str] = tuple(FULL_SCOPES),
                 allowed: Sequence[str] = tuple(FULL_SCOPES)) -> None:
        self.root, self.emu = root, emu
        self.transport = Recording(emu.transport())
        self.providers: dict[str, Granting] = {}

        def for_project(project: Project, environ: Any = None) -> Any:
            def open_client(env: EnvironmentSettings, command: str) -> DigdirClient:
                provider = self.providers.setdefault(
                    project.orgno, Granting(emu, project.orgno, allowed))
                return DigdirClient(
                    "http://emulator.invalid", prefix=env.prefix, token_provider=provider,
                    scopes=list(scopes), transport=self.transport,
                    concurrency=env.concurrency, sleep=lambda s: None, retry=RetryPolicy(),
                )
            return open_client

        monkeypatch.setattr("selvsync.cli.connecting.default_factory", for_project)
        root.mkdir(parents=True, exist_ok=True)
        (root / "environments").mkdir(exist_ok=True)
        (root / "selvsync.yaml").write_text(dump({
            "orgno": SUPPLIER, "owner": "lev",
            "environments": {"test": {"api": "emulator", "safety": {"max_destroy": 2}}},
        }))

    def declare(self, entries: Any, client: dict[str, Any] | None = None) -> Path:
        body = dict(client or login("Portal", "portal.lev.no"))
        if entries is not None:
            body["onbehalfof"] = entries
        path = self.root / "environments" / "test.yaml"
        path.write_text(dump({"clients": {"portal": body}}))
        return path


def entry(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"kunde-{i}", "orgno": CUSTOMERS[i], "name": f"Kunde {i}",
            "url": f"https://kunde{i}.no/", **extra}


def live_entries(emu: Emulator, orgno: str = SUPPLIER) -> dict[str, dict[str, Any]]:
    with httpx.Client(transport=emu.transport(), base_url="http://emulator.invalid") as http:
        auth = {"Authorization": f"Bearer {token(orgno)}"}
        clients = http.get("/api/v1/clients", headers=auth).json()
        out: dict[str, dict[str, Any]] = {}
        for client in clients:
            for e in http.get(f"/api/v1/clients/{client['client_id']}/onbehalfof",
                              headers=auth).json():
                out[e["onbehalfof"]] = e
        return out


def new_emulator(**kw: Any) -> Emulator:
    emu = Emulator(":memory:", **kw)
    for orgno in (SUPPLIER, *CUSTOMERS):
        emu.add_token(token(orgno), orgno, FULL_SCOPES)
    return emu


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[CliRun]:
    from selvsync.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return int(code), out, err

    yield run


# -- created, changed, deleted --------------------------------------------------------------


def test_entries_created_changed_and_deleted(
    tmp_path: Path, cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = new_emulator()
    s = Setup(tmp_path, emu, monkeypatch)
    root = str(tmp_path)
    s.declare([entry(i) for i in range(5)])
    code, out, err = cli("apply", "-C", root, "--auto-approve", "--allow-empty-listing")
    assert code == 0, out + err
    assert "5 to create onbehalfof entries" in out
    assert sorted(live_entries(emu)) == [f"kunde-{i}" for i in range(5)]
    assert live_entries(emu)["kunde-0"]["name"] == "Kunde 0"

    # A no-change plan reads the entries from the listing: no request per client.
    before = len(s.transport.seen)
    code, out, _ = cli("plan", "-C", root, "--detailed-exitcode")
    assert code == 0, out
    assert [p for _, p, _ in s.transport.seen[before:] if "onbehalfof" in p] == []

    # One entry changed, field by field; the PUT is a full entry.
    s.declare([entry(0, name="Kunde null", description="Nytt navn"),
               *(entry(i) for i in range(1, 5))])
    code, out, _ = cli("plan", "-C", root, "--format", "json")
    doc = json.loads(out)
    assert [(c["action"], c["onbehalfof"]) for c in doc["changes"]] == [
        ("onbehalfof-update", "kunde-0")]
    assert {f["field"]: (f["before"], f["after"]) for f in doc["changes"][0]["fields"]} == {
        "name": ("Kunde 0", "Kunde null"), "description": (None, "Nytt navn")}
    code, out, err = cli("apply", "-C", root, "--auto-approve")
    assert code == 0, out + err
    assert live_entries(emu)["kunde-0"]["description"] == "Nytt navn"

    # Deleting three entries is over `safety.max_destroy: 2`: refused, nothing written.
    s.declare([entry(0, name="Kunde null", description="Nytt navn"), entry(1)])
    writes = len(s.transport.entry_writes())
    code, out, err = cli("apply", "-C", root, "--auto-approve")
    assert code == 4, out + err
    assert "3 onbehalfof entries would be deleted" in err + out
    assert len(s.transport.entry_writes()) == writes
    code, out, err = cli("apply", "-C", root, "--auto-approve", "--allow-over-limit")
    assert code == 0, out + err
    assert sorted(live_entries(emu)) == ["kunde-0", "kunde-1"]

    # Removing the last entries is refused too (an emptied list is more likely a mistake).
    s.declare([])
    code, out, err = cli("plan", "-C", root)
    assert "every onbehalfof entry of client 'portal' (2) would be deleted" in out + err
    # Without `onbehalfof:` the client's entries are not managed: nothing to do.
    s.declare(None)
    code, out, _ = cli("plan", "-C", root, "--detailed-exitcode")
    assert code == 0, out
    assert sorted(live_entries(emu)) == ["kunde-0", "kunde-1"]


@pytest.mark.parametrize("spelling", ["name", "display_name"])
def test_both_spellings_are_read_and_the_returned_one_is_sent(
    tmp_path: Path, cli: CliRun, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    emu = new_emulator(onbehalfof_spelling=spelling)
    s = Setup(tmp_path, emu, monkeypatch)
    root = str(tmp_path)
    s.declare([entry(0)])
    assert cli("apply", "-C", root, "--auto-approve", "--allow-empty-listing")[0] == 0
    code, out, _ = cli("plan", "-C", root, "--detailed-exitcode")
    assert code == 0, out  # the answer's spelling compares equal to the declared entry
    s.declare([entry(0, name="Ny", url="https://ny.no/")])
    assert cli("apply", "-C", root, "--auto-approve")[0] == 0
    method, _, body = s.transport.entry_writes()[-1]
    assert method == "PUT"
    name_field, url_field = ("name", "client_uri") if spelling == "name" else (
        "display_name", "url")
    assert body[name_field] == "Ny" and body[url_field] == "https://ny.no/"
    assert set(body) == {"onbehalfof", "orgno", name_field, url_field}
    assert cli("plan", "-C", root, "--detailed-exitcode")[0] == 0


# -- least privilege: entries get a token of their own ---------------------------------------


def test_entry_writes_ask_only_for_the_onbehalfof_scope(
    tmp_path: Path, cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = new_emulator()
    s = Setup(tmp_path, emu, monkeypatch)
    root = str(tmp_path)
    s.declare([])
    assert cli("apply", "-C", root, "--auto-approve", "--allow-empty-listing")[0] == 0

    # Now a credential that may read clients and write entries, nothing else (Digdir's
    # onbehalfof:write supplier): entry changes apply without ever asking for dcr.write.
    s2 = Setup(tmp_path, emu, monkeypatch, scopes=(READ,), allowed=(READ, OBO_WRITE))
    s2.declare([entry(0), entry(1)])
    code, out, err = cli("apply", "-C", root, "--auto-approve")
    assert code == 0, out + err
    asked = s2.providers[SUPPLIER].asked
    assert (OBO_WRITE,) in asked
    assert not any(WRITE in scopes for scopes in asked)
    assert sorted(live_entries(emu)) == ["kunde-0", "kunde-1"]


def test_a_plan_without_entry_changes_never_asks_for_the_entry_scope(
    tmp_path: Path, cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = new_emulator()
    s = Setup(tmp_path, emu, monkeypatch)
    root = str(tmp_path)
    s.declare([entry(0)])
    assert cli("apply", "-C", root, "--auto-approve", "--allow-empty-listing")[0] == 0
    s.declare([entry(0)], client=login("Portal 2", "portal.lev.no"))
    assert cli("apply", "-C", root, "--auto-approve")[0] == 0
    assert s.providers[SUPPLIER].asked.count((OBO_WRITE,)) == 1  # the first apply's only


# -- offline validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "client", "expected"),
    [
        ([entry(0, orgno="910000005")], None, "onbehalfof[0].orgno"),
        ([entry(0, id="ikke gyldig")], None, "onbehalfof[0].id"),
        ([entry(0), entry(0)], None, "onbehalfof[1].id"),
        ([entry(0, url="http://kunde.no/")], None, "onbehalfof[0].url"),
        ([entry(0)], {"integration_type": "maskinporten", "client_name": "M",
                      "scopes": ["x:y"]}, "clients.portal.onbehalfof"),
        ({"from_organisations": True}, None, "onbehalfof.from_organisations"),
    ],
)
def test_mistakes_are_caught_offline_with_file_and_line(
    tmp_path: Path, cli: CliRun, monkeypatch: pytest.MonkeyPatch,
    entries: Any, client: dict[str, Any] | None, expected: str,
) -> None:
    emu = new_emulator()
    s = Setup(tmp_path, emu, monkeypatch)
    path = s.declare(entries, client)
    code, out, err = cli("validate", "-C", str(tmp_path))
    assert code == 3, out + err
    assert f"{path.relative_to(tmp_path)}:" in err and expected in err
    assert s.transport.seen == []  # nothing was read


# -- plan files -----------------------------------------------------------------------------


def test_a_plan_file_with_entry_changes_is_rechecked(
    tmp_path: Path, cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = new_emulator()
    s = Setup(tmp_path, emu, monkeypatch)
    root = str(tmp_path)
    s.declare([entry(0)])
    assert cli("apply", "-C", root, "--auto-approve", "--allow-empty-listing")[0] == 0
    s.declare([entry(0, name="Endret"), entry(1)])
    planfile = tmp_path / "plan.json"
    assert cli("plan", "-C", root, "--out", str(planfile))[0] == 0

    # Someone edits the file: the entry's body is not what a plan made now would send.
    doc = json.loads(planfile.read_text())
    edited = dict(doc)
    edited["changes"] = [dict(c) for c in doc["changes"]]
    for change in edited["changes"]:
        if change.get("onbehalfof") == "kunde-1":
            change["body"] = {**change["body"], "orgno": CUSTOMERS[7]}
    bad = tmp_path / "edited.json"
    bad.write_text(json.dumps(edited))
    code, out, err = cli("apply", "-C", root, str(bad), "--auto-approve")
    assert code == 4, out + err
    assert "onbehalfof-create 'portal' onbehalfof kunde-1" in err

    # Live entries moved since the plan: stale.
    with httpx.Client(transport=emu.transport(), base_url="http://emulator.invalid") as http:
        cid = next(iter(http.get("/api/v1/clients", headers={
            "Authorization": f"Bearer {token(SUPPLIER)}"}).json()))["client_id"]
        http.put(f"/api/v1/clients/{cid}/onbehalfof/kunde-0",
                 json={"orgno": CUSTOMERS[0], "name": "Portalen"},
                 headers={"Authorization": f"Bearer {token(SUPPLIER)}"}).raise_for_status()
    code, out, err = cli("apply", "-C", root, str(planfile), "--auto-approve")
    assert code == 4, out + err
    assert "onbehalfof entries of client" in err and "changed since the plan" in err

    # A fresh plan file applies.
    assert cli("plan", "-C", root, "--out", str(planfile))[0] == 0
    code, out, err = cli("apply", "-C", root, str(planfile), "--auto-approve")
    assert code == 0, out + err
    assert live_entries(emu)["kunde-0"]["name"] == "Endret"
    assert sorted(live_entries(emu)) == ["kunde-0", "kunde-1"]


# -- generated from the organisations list ---------------------------------------------------


def test_entries_generated_from_the_organisations(
    tmp_path: Path, cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = new_emulator()
    Setup(tmp_path, emu, monkeypatch)  # the factory; the project files are replaced below
    orgs: dict[str, Any] = {"lev": {"orgno": SUPPLIER}}
    for i in range(4):
        orgs[f"k{i}"] = {"orgno": CUSTOMERS[i], "variables": {
            "display_name": f"Kommune {i}", "url": f"https://k{i}.kommune.no/"}}
    config = {"orgno": SUPPLIER, "owner": "lev", "supplier": True,
              "environments": {"test": {"api": "emulator"}}, "organisations": orgs}
    (tmp_path / "environments" / "test.yaml").unlink(missing_ok=True)
    (tmp_path / "environments").rmdir()
    (tmp_path / "selvsync.yaml").write_text(dump(config))
    portal = {**login("Portal", "portal.lev.no"), "onbehalfof": {"from_organisations": True}}
    for name in orgs:
        folder = tmp_path / "organisations" / name
        folder.mkdir(parents=True)
        clients = {"portal": portal} if name == "lev" else {}
        (folder / "test.yaml").write_text(dump({"clients": clients}))
    root = str(tmp_path)
    code, out, err = cli("apply", "-C", root, "--auto-approve", "--allow-empty-listing")
    assert code == 0, out + err
    got = live_entries(emu)
    assert sorted(got) == ["k0", "k1", "k2", "k3"]  # not the supplier's own organisation
    assert got["k2"]["name"] == "Kommune 2" and got["k2"]["orgno"] == CUSTOMERS[2]
    assert got["k2"]["client_uri"] == "https://k2.kommune.no/"

    # `--org lev` plans the same entries: narrowing a run never deletes anyone's entry.
    code, out, _ = cli("plan", "-C", root, "--org", "lev", "--detailed-exitcode")
    assert code == 0, out
    # A customer retired: its entry goes with it.
    config["organisations"]["k3"]["retired"] = True
    (tmp_path / "selvsync.yaml").write_text(dump(config))
    code, out, err = cli("apply", "-C", root, "--auto-approve")
    assert code == 0, out + err
    assert sorted(live_entries(emu)) == ["k0", "k1", "k2"]
    # A customer's bad URL variable is its own line's problem, naming the organisation.
    config["organisations"]["k1"]["variables"]["url"] = "http://k1.no/"
    (tmp_path / "selvsync.yaml").write_text(dump(config))
    code, out, err = cli("validate", "-C", root)
    assert code == 3 and "organisation 'k1'" in err and "from_organisations" in err, err


# -- another organisation's client ----------------------------------------------------------


def test_another_organisations_client_is_403(
    tmp_path: Path, cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = new_emulator()
    with httpx.Client(transport=emu.transport(), base_url="http://emulator.invalid") as http:
        made = http.post("/api/v1/clients", json={**login("Theirs", "their.no"),
                                                   "description": "theirs"},
                         headers={"Authorization": f"Bearer {token(OTHER)}"})
        made.raise_for_status()
        theirs = made.json()["client_id"]
    mine = DigdirClient("http://emulator.invalid", token_provider=Granting(
        emu, SUPPLIER, FULL_SCOPES), scopes=[READ], transport=emu.transport(),
        sleep=lambda s: None, prefix="/api/v1")
    api = OnBehalfOfApi(mine, write=True)
    with pytest.raises(ForbiddenError, match="another organization"):
        api.list(theirs)
    with pytest.raises(ForbiddenError):
        api.create(theirs, {"onbehalfof": "x", "orgno": CUSTOMERS[0], "name": "X"})

    # Through the CLI: `client_id:` naming their client is refused before any write.
    s = Setup(tmp_path, emu, monkeypatch)
    s.declare([entry(0)], client={**login("Theirs", "their.no"), "client_id": theirs})
    code, out, err = cli("apply", "-C", str(tmp_path), "--auto-approve")
    assert code == 4, out + err
    assert s.transport.entry_writes() == []
    assert live_entries(emu, OTHER) == {}
