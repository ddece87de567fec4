"""Several organisations in one project, end to end through the CLI against the emulator:
a group of companies with their own credentials, a supplier with 20 customers through one
supplier credential, hostile adoptions, and isolation between organisations sharing a listing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from selvsync.api.auth import StaticTokenProvider
from selvsync.api.client import DigdirClient
from selvsync.api.retry import RetryPolicy
from selvsync.cli import main
from selvsync.emulator import FULL_SCOPES, Emulator
from selvsync.emulator.server import serve
from selvsync.model import EnvironmentSettings, Project
from selvsync.sensitive.value import Secret
from selvsync.yaml import dump

SUPPLIER = "991825827"
OTHER_SUPPLIER = "974760673"
# 20 valid (MOD11) customer orgnos, none of them a supplier's.
WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def _with_check_digit(base: str) -> str | None:
    digit = (11 - sum(w * int(c) for w, c in zip(WEIGHTS, base, strict=True)) % 11) % 11
    return None if digit == 10 else base + str(digit)


CUSTOMERS = [
    n
    for n in (_with_check_digit(f"{i:08d}") for i in range(91000000, 91000400))
    if n is not None and n not in (SUPPLIER, OTHER_SUPPLIER)
][:20]


def token(orgno: str) -> str:
    return f"token-{orgno}"


def emulator(*orgnos: str) -> Emulator:
    emu = Emulator(":memory:")
    for orgno in {SUPPLIER, OTHER_SUPPLIER, *CUSTOMERS, *orgnos}:
        emu.add_token(token(orgno), orgno, FULL_SCOPES)
    return emu


def factory(
    emu: Emulator, transport: Callable[[], httpx.BaseTransport] | None = None, base: str = ""
) -> Callable[[Project], Callable[[EnvironmentSettings, str], DigdirClient]]:
    """Each project's token acts for its own orgno, as a Maskinporten grant would."""

    def for_project(project: Project, environ: Any = None) -> Any:
        def open_client(env: EnvironmentSettings, command: str) -> DigdirClient:
            return DigdirClient(
                base or "http://emulator.invalid",
                prefix=env.prefix,
                token_provider=StaticTokenProvider(Secret(token(project.orgno))),
                scopes=sorted(FULL_SCOPES),
                transport=transport() if transport else emu.transport(),
                concurrency=env.concurrency,
                sleep=lambda s: None,
                retry=RetryPolicy(),
            )

        return open_client

    return for_project


def raw(emu: Emulator, orgno: str = SUPPLIER) -> list[dict[str, Any]]:
    with httpx.Client(transport=emu.transport(), base_url="http://emulator.invalid") as http:
        response = http.get(
            "/api/v1/clients",
            params={"inactive": "true"},
            headers={"Authorization": f"Bearer {token(orgno)}"},
        )
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()
        return data


def login(name: str, host: str) -> dict[str, Any]:
    return {
        "integration_type": "idporten",
        "client_name": name,
        "token_endpoint_auth_method": "private_key_jwt",
        "redirect_uris": [f"https://{host}/cb"],
        "post_logout_redirect_uris": [f"https://{host}/"],
    }


class Project_:
    def __init__(self, root: Path, config: dict[str, Any], shared: dict[str, Any] | None = None):
        self.root = root
        self.config = config
        root.mkdir(parents=True, exist_ok=True)
        self.save()
        if shared is not None:
            (root / "shared.yaml").write_text(dump(shared))

    def save(self) -> None:
        (self.root / "selvsync.yaml").write_text(dump(self.config))

    def write(self, org: str, clients: dict[str, Any], env: str = "test") -> Path:
        folder = self.root / "organisations" / org
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{env}.yaml"
        path.write_text(dump({"clients": clients}))
        return path


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[int, str, str]]]:
    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return int(code), out, err

    yield run


def use(monkeypatch: pytest.MonkeyPatch, emu: Emulator, **kw: Any) -> None:
    monkeypatch.setattr("selvsync.cli.connecting.default_factory", factory(emu, **kw))


def supplier_project(root: Path, customers: int = 20) -> Project_:
    orgs = {
        f"c{i:02d}": {"orgno": CUSTOMERS[i], "variables": {"domain": f"c{i:02d}.kunde.no"}}
        for i in range(customers)
    }
    config = {
        "orgno": SUPPLIER,
        "owner": "lev",
        "supplier": True,
        "templates": ["web"],
        "environments": {"test": {"api": "emulator"}},
        "organisations": orgs,
    }
    shared = {"clients": {"web": login("Login ${org.name}", "${org.domain}")}}
    return Project_(root, config, shared)


# -- a supplier with 20 customers through one supplier credential -------------------------


def test_supplier_with_twenty_customers(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = emulator()
    use(monkeypatch, emu)
    proj = supplier_project(tmp_path)
    root = str(tmp_path)

    code, out, err = cli("apply", "-C", root, "--auto-approve")
    assert code == 0, out + err
    live = [c for c in raw(emu) if c["active"]]
    assert len(live) == 20
    assert sorted(c["client_orgno"] for c in live) == sorted(CUSTOMERS)
    assert {c["supplier_orgno"] for c in live} == {SUPPLIER}
    # One listing per credential and environment, not per organisation.
    before = emu.counters().get("GET /clients", 0)
    code, out, _ = cli("plan", "-C", root, "--detailed-exitcode")
    assert code == 0, out
    assert emu.counters().get("GET /clients", 0) - before == 1

    # An update in one customer only.
    proj.write("c03", {"web": {"client_name": "Kunde tre"}})
    code, out, _ = cli("plan", "-C", root, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["format_version"] == 2
    assert [(c["organisation"], c["action"]) for c in doc["changes"]] == [("c03", "update")]
    assert len(doc["organisations"]) == 20
    code, out, _ = cli("apply", "-C", root, "--auto-approve")
    assert code == 0, out
    names = {c["client_orgno"]: c["client_name"] for c in raw(emu) if c["active"]}
    assert names[CUSTOMERS[3]] == "Kunde tre"
    assert names[CUSTOMERS[4]] == "Login c04"

    # An orgno typo is caught offline (MOD11), naming selvsync.yaml's line; nothing is read.
    good = proj.config["organisations"]["c05"]["orgno"]
    proj.config["organisations"]["c05"]["orgno"] = good[:-1] + str((int(good[-1]) + 1) % 10)
    proj.save()
    reads = emu.counters().get("GET /clients", 0)
    code, out, err = cli("plan", "-C", root)
    assert code == 3
    assert "selvsync.yaml:" in err and "organisations.c05.orgno" in err
    assert emu.counters().get("GET /clients", 0) == reads
    proj.config["organisations"]["c05"]["orgno"] = good
    proj.save()

    # A customer removed (retired): that deactivates every client it has, which is refused
    # unless overridden on purpose; then its one client is deactivated, and only that one.
    proj.config["organisations"]["c07"]["retired"] = True
    proj.save()
    code, out, err = cli("apply", "-C", root, "--auto-approve")
    assert code == 4 and "c07/" in err, out + err
    code, out, err = cli("apply", "-C", root, "--auto-approve", "--allow-over-limit")
    assert code == 0, out + err
    gone = [c for c in raw(emu) if c["client_orgno"] == CUSTOMERS[7]]
    assert [c["active"] for c in gone] == [False]
    assert sum(1 for c in raw(emu) if c["active"]) == 19


def test_removing_a_big_customer_is_over_the_limits(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = emulator()
    use(monkeypatch, emu)
    proj = supplier_project(tmp_path, customers=3)
    proj.write("c01", {f"app{i}": login(f"App {i}", f"app{i}.c01.no") for i in range(11)})
    root = str(tmp_path)
    assert cli("apply", "-C", root, "--auto-approve")[0] == 0
    proj.config["organisations"]["c01"]["retired"] = True
    proj.save()
    before = raw(emu)
    code, out, err = cli("apply", "-C", root, "--auto-approve")
    assert code == 4, out + err
    assert "c01/" in err  # the refusal names the organisation
    assert raw(emu) == before  # nothing applied in any organisation
    code, out, err = cli("apply", "-C", root, "--auto-approve", "--force")
    assert code == 0, out + err
    assert not [c for c in raw(emu) if c["client_orgno"] == CUSTOMERS[1] and c["active"]]
    assert len([c for c in raw(emu) if c["active"]]) == 2


# -- isolation between organisations sharing one supplier listing ------------------------


def test_two_organisations_sharing_a_listing_never_touch_each_other(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = emulator()
    use(monkeypatch, emu)
    proj = supplier_project(tmp_path, customers=2)
    proj.config["templates"] = []
    proj.save()
    proj.write("c00", {"web": login("A", "a.no"), "api": login("A2", "a2.no")})
    proj.write("c01", {"web": login("B", "b.no")})
    root = str(tmp_path)
    assert cli("apply", "-C", root, "--auto-approve")[0] == 0
    b_before = [c for c in raw(emu) if c["client_orgno"] == CUSTOMERS[1]]

    # c00 declares nothing any more: its own clients go, c01's `web` (same key) stays.
    proj.write("c00", {})
    code, out, err = cli(
        "apply", "-C", root, "--org", "c00", "--auto-approve", "--allow-over-limit"
    )
    assert code == 0, out + err
    assert [c for c in raw(emu) if c["client_orgno"] == CUSTOMERS[1]] == b_before
    assert not [c for c in raw(emu) if c["client_orgno"] == CUSTOMERS[0] and c["active"]]

    # A broken file in one organisation fails that organisation only (exit 3, file:line).
    bad = proj.write("c00", {"web": {**login("A", "a.no"), "integration_type": "nonsense"}})
    proj.write("c01", {"web": login("B changed", "b.no")})
    code, out, err = cli("plan", "-C", root)
    assert code == 3
    assert f"{bad.name}:" in err and "organisation c00" in err
    assert "B changed" in out  # c01 is still planned


def test_a_moved_client_is_a_replace_refused_without_opt_in(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = emulator()
    use(monkeypatch, emu)
    proj = supplier_project(tmp_path, customers=2)
    proj.config["templates"] = []
    proj.save()
    proj.write("c00", {"portal": login("Portal", "p.no")})
    proj.write("c01", {})
    root = str(tmp_path)
    assert cli("apply", "-C", root, "--auto-approve")[0] == 0
    # The client is now declared for the other customer: never moved silently.
    proj.write("c00", {})
    proj.write("c01", {"portal": login("Portal", "p.no")})
    code, out, err = cli("apply", "-C", root, "--auto-approve", "--force")
    assert code == 4, out + err
    assert "never moves between organisations" in out + err
    proj.write("c01", {"portal": {**login("Portal", "p.no"), "allow_replace": True}})
    code, out, err = cli("apply", "-C", root, "--auto-approve", "--allow-over-limit")
    assert code == 0, out + err
    active = [c for c in raw(emu) if c["active"]]
    assert [c["client_orgno"] for c in active] == [CUSTOMERS[1]]


# -- a hostile configuration -------------------------------------------------------------


def test_hostile_client_id_of_another_customer_is_refused(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = emulator()
    use(monkeypatch, emu)
    # Another supplier's customer client, and a client of this supplier's other customer.
    with httpx.Client(transport=emu.transport(), base_url="http://emulator.invalid") as http:
        theirs = http.post(
            "/api/v1/clients",
            json={**login("Theirs", "t.no"), "description": "x", "client_orgno": CUSTOMERS[0]},
            headers={"Authorization": f"Bearer {token(OTHER_SUPPLIER)}"},
        ).json()
        sibling = http.post(
            "/api/v1/clients",
            json={**login("Sibling", "s.no"), "description": "y", "client_orgno": CUSTOMERS[1]},
            headers={"Authorization": f"Bearer {token(SUPPLIER)}"},
        ).json()
    proj = supplier_project(tmp_path, customers=2)
    proj.config["templates"] = []
    proj.save()
    proj.write("c01", {})
    root = str(tmp_path)
    before = {c["client_id"]: c for c in raw(emu, OTHER_SUPPLIER) + raw(emu)}
    for victim in (theirs, sibling):
        proj.write("c00", {"grab": {**login("Grab", "g.no"), "client_id": victim["client_id"]}})
        code, out, err = cli("apply", "-C", root, "--auto-approve", "--force")
        assert code == 4, out + err
        after = {c["client_id"]: c for c in raw(emu, OTHER_SUPPLIER) + raw(emu)}
        assert after == before


# -- a group of companies, each with its own admin client --------------------------------


def test_group_of_three_with_own_credentials_over_loopback(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = emulator()
    server = serve(emu)
    try:
        use(monkeypatch, emu, transport=lambda: httpx.HTTPTransport(), base=server.url)
        group = CUSTOMERS[:3]
        config = {
            "orgno": group[0],
            "owner": "konsern",
            "environments": {"test": {"api": "emulator"}},
            "organisations": {
                f"selskap{i}": {"orgno": orgno, "environments": {"test": {"api": "emulator"}}}
                for i, orgno in enumerate(group)
            },
        }
        proj = Project_(tmp_path, config)
        for i in range(3):
            proj.write(f"selskap{i}", {"web": login(f"Selskap {i}", f"s{i}.no")})
        root = str(tmp_path)
        code, out, err = cli("apply", "-C", root, "--auto-approve")
        assert code == 0, out + err
        for orgno in group:
            mine = [c for c in raw(emu, orgno) if c["active"]]
            assert [c["client_orgno"] for c in mine] == [orgno]
            assert "supplier_orgno" not in mine[0]  # created with the organisation's own token
        code, out, _ = cli("plan", "-C", root, "--detailed-exitcode", "--format", "markdown")
        assert code == 0
        assert "No changes in 3 organisation(s)" in out
    finally:
        server.shutdown()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_answering_no_cancels_every_organisation_with_exit_4(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = emulator()
    use(monkeypatch, emu)
    supplier_project(tmp_path, customers=2)
    monkeypatch.setattr("sys.stdin", _Terminal("no\n"))
    code, _, err = cli("apply", "-C", str(tmp_path))
    assert code == 4, err
    assert "Apply cancelled; nothing changed." in err
    assert raw(emu) == []
