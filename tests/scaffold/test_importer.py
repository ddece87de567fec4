"""`selvsync import`: live clients made by hand -> environment YAML -> adopt -> nothing left.

The round trip runs the real CLI against the embedded emulator (its SQLite file under the
project's .selvsync/, seeded with raw HTTP as a person clicking in the portal would), and
once over a loopback socket with token authentication.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from selvsync.cli import cli, main
from selvsync.cli.importing import import_command
from selvsync.emulator import FULL_SCOPES, Emulator
from selvsync.marker import parse
from selvsync.plan import diff
from selvsync.rules.fields import SET_FIELDS
from selvsync.scaffold.importer import (
    KEY_MAX,
    KEY_PATTERN,
    build_import,
    derive_key,
    normalise,
    public_jwks,
    slugify,
)
from selvsync.yaml import load_text
from tests.harness import EXAMPLES, ORGNO, TOKEN, ProjectDir

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
KEYS = EXAMPLES / "quickstart" / "keys"


@pytest.fixture(autouse=True)
def import_registered() -> None:
    # selvsync.cli registers `import` once the lead wires it; until then the tests do.
    if "import" not in cli.commands:
        cli.add_command(import_command, "import")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- hand-made clients


def hand_made() -> list[tuple[dict[str, Any], Path | None]]:
    """Clients of several kinds as a person would register them in the portal: explicit
    defaults, lists in any order, a non-default lifetime, no selvsync marker."""
    return [
        (
            {
                "integration_type": "idporten",
                "application_type": "web",
                "client_name": "Min side",
                "description": "Innlogging til Min side",
                "token_endpoint_auth_method": "private_key_jwt",
                "grant_types": ["refresh_token", "authorization_code"],
                "scopes": ["profile", "openid"],
                "redirect_uris": ["https://minside.example.no/cb", "https://app.example.no/cb"],
                "post_logout_redirect_uris": ["https://minside.example.no/"],
                "frontchannel_logout_uri": "https://minside.example.no/logout",
                "refresh_token_lifetime": 3600,
            },
            KEYS / "minside-web.jwks.json",
        ),
        (
            {
                "integration_type": "maskinporten",
                "client_name": "Skatteoppgjør for økonomi",
                "description": "Henter ${aar} fra Skatteetaten",
                "scopes": ["skatteetaten:skatteoppgjoer"],
            },
            KEYS / "skatt-api.jwks.json",
        ),
        (
            {
                "integration_type": "idporten",
                "application_type": "browser",
                "client_name": "Min side",
                "description": "Min side (SPA)",
                "redirect_uris": ["https://minside.example.no/spa/cb"],
                "post_logout_redirect_uris": ["https://minside.example.no/spa/"],
            },
            None,
        ),
        (
            {
                "integration_type": "ansattporten",
                "client_name": "Intranett",
                "description": "Intranett for ansatte",
                "token_endpoint_auth_method": "client_secret_post",
                "redirect_uris": ["https://intranett.example.no/cb"],
                "post_logout_redirect_uris": ["https://intranett.example.no/"],
                "sso_disabled": True,
            },
            None,
        ),
    ]


def _http(emu: Emulator) -> httpx.Client:
    return httpx.Client(
        transport=emu.transport(),
        base_url="http://emulator.invalid",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def add_clients(
    emu: Emulator, clients: list[tuple[dict[str, Any], Path | None]]
) -> list[dict[str, Any]]:
    created = []
    with _http(emu) as http:
        for body, keys in clients:
            response = http.post("/api/v1/clients", json=body)
            response.raise_for_status()
            client = response.json()
            if keys is not None:
                put = http.put(
                    f"/api/v1/clients/{client['client_id']}/jwks",
                    json=json.loads(keys.read_text()),
                )
                put.raise_for_status()
            created.append(client)
    return created


def canonical(client: dict[str, Any]) -> dict[str, Any]:
    return {
        k: sorted(v) if k in SET_FIELDS else v
        for k, v in diff.writable(client).items()
        if k != "description"
    }


def live(emu: Emulator) -> dict[str, dict[str, Any]]:
    with _http(emu) as http:
        response = http.get("/api/v1/clients")
        response.raise_for_status()
        return {c["client_id"]: c for c in response.json()}


class Seeded:
    """A project whose embedded emulator (the SQLite file `api: emulator` uses) holds clients
    made by hand; `emulator()` opens it again to look at live state."""

    def __init__(self, root: Path) -> None:
        self.project = ProjectDir(root)
        self.root = root
        self.db = root / ".selvsync" / "emulator-test.sqlite"
        self.db.parent.mkdir(parents=True, exist_ok=True)

    def emulator(self) -> Emulator:
        emu = Emulator(self.db)
        emu.add_token(TOKEN, ORGNO, FULL_SCOPES)
        return emu

    def add(self, clients: list[tuple[dict[str, Any], Path | None]]) -> list[dict[str, Any]]:
        emu = self.emulator()
        try:
            return add_clients(emu, clients)
        finally:
            emu.close()

    def live(self) -> dict[str, dict[str, Any]]:
        emu = self.emulator()
        try:
            return live(emu)
        finally:
            emu.close()


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    return Seeded(tmp_path / "p")


# ---------------------------------------------------------------- the round trip


def test_import_plan_adopts_only_marker_then_apply_converges(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    created = seeded.add(hand_made())
    before = seeded.live()
    env_file = seeded.root / "environments" / "test.yaml"
    env_file.unlink()  # a fresh project: no state file for the environment yet

    code, out, err = run(
        capsys, "import", "-C", str(seeded.root), "--env", "test", "--out", str(env_file)
    )
    assert code == 0, err
    assert out == ""
    assert "test: no state file yet; importing every unmarked client" in err
    assert "imported 4 clients" in err
    written = load_text(env_file.read_text(), "test.yaml").data["clients"]
    assert set(written) == {"min-side", "min-side-2", "skatteoppgjor-for-okonomi", "intranett"}
    assert {c["client_id"] for c in written.values()} == {c["client_id"] for c in created}
    web = written["min-side"] if "keys" in written["min-side"] else written["min-side-2"]
    assert web["keys"].startswith("keys/min-side")
    assert written["skatteoppgjor-for-okonomi"]["keys"] == (
        "keys/skatteoppgjor-for-okonomi.jwks.json"
    )
    jwks = json.loads((seeded.root / web["keys"]).read_text())
    assert all(set(k) == {"kty", "alg", "use", "kid", "e", "n"} for k in jwks["keys"])

    code, out, err = run(capsys, "validate", "-C", str(seeded.root))
    assert code == 0, out + err

    code, out, err = run(capsys, "plan", "-C", str(seeded.root), "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["summary"]["adopt"] == 4
    assert sum(plan["summary"].values()) == 4, plan["summary"]  # no update-keys, no update
    for change in plan["changes"]:
        assert change["action"] == "adopt"
        (field,) = change["fields"]
        assert field["field"] == "description"
        assert field["before"] == before[change["client_id"]]["description"]
        assert field["after"].startswith(field["before"] + " [selvsync:v1 o=team-a k=")

    code, out, err = run(capsys, "apply", "-C", str(seeded.root), "--auto-approve")
    assert code == 0, out + err
    code, out, err = run(capsys, "plan", "-C", str(seeded.root), "--detailed-exitcode")
    assert code == 0, out + err
    assert "No changes" in out

    after = seeded.live()
    for cid, old in before.items():
        new = after[cid]
        human, marker = parse(new["description"])
        assert human.strip() == old["description"] and marker is not None
        # Adoption wrote the marker and nothing else (lists may come back in another order).
        assert canonical(new) == canonical(old)


def test_import_to_stdout_leaves_keys_out_and_says_so(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded.add(hand_made()[1:2])
    code, out, err = run(capsys, "import", "-C", str(seeded.root), "--env", "test")
    assert code == 0, err
    (entry,) = load_text(out, "stdout").data["clients"].values()
    assert "keys" not in entry
    assert entry["description"] == "Henter $${aar} fra Skatteetaten"  # ${ escaped for YAML
    assert "run with --out FILE to write them to keys/" in err
    assert not (seeded.root / "keys").exists()


def test_stdout_yaml_reloads_and_validates(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded.add([(c, None) for c, _ in hand_made()])
    code, out, err = run(capsys, "import", "-C", str(seeded.root), "--env", "test")
    assert code == 0, err
    (seeded.root / "environments" / "test.yaml").write_text(out)
    code, out, err = run(capsys, "validate", "-C", str(seeded.root))
    assert code == 0, out + err
    assert "valid: test (4 clients)" in out


def test_foreign_and_managed_clients_are_not_imported_unless_flagged(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    base = hand_made()[3][0]
    seeded.add(
        [
            (
                {**base, "client_name": "Andres", "description": "X [selvsync:v1 o=team-b k=x]"},
                None,
            ),
            ({**base, "client_name": "Nais-app", "description": "dev-gcp:team:app"}, None),
            (
                {**base, "client_name": "Vår egen", "description": "[selvsync:v1 o=team-a k=egen]"},
                None,
            ),
            ({**base, "client_name": "Umerket"}, None),
        ]
    )
    code, out, err = run(capsys, "import", "-C", str(seeded.root), "--env", "test")
    assert code == 0, err
    assert list(load_text(out, "stdout").data["clients"]) == ["umerket"]
    assert "(Andres) belongs to selvsync owner 'team-b': not imported" in err
    assert "(Nais-app) belongs to digdirator (dev-gcp:team:app): not imported" in err
    assert "(Vår egen): already managed as 'egen'" in err
    assert "pass --include-foreign" in err

    code, out, err = run(
        capsys, "import", "-C", str(seeded.root), "--env", "test", "--include-foreign"
    )
    assert code == 0, err
    clients = load_text(out, "stdout").data["clients"]
    assert sorted(clients) == ["andres", "nais-app", "umerket"]
    assert clients["andres"]["description"] == "X"  # the other owner's marker is not copied
    assert "plan refuses to adopt it until that owner lets go" in err


def test_out_refuses_to_overwrite_without_force(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded.add(hand_made()[1:2])
    target = seeded.root / "environments" / "test.yaml"
    original = target.read_text()
    code, _, err = run(
        capsys, "import", "-C", str(seeded.root), "--env", "test", "--out", str(target)
    )
    assert code == 4
    assert "already exists; nothing was written (pass --force" in err
    assert target.read_text() == original
    assert not (seeded.root / "keys").exists()  # refused before anything was written

    code, _, err = run(
        capsys, "import", "-C", str(seeded.root), "--env", "test", "--out", str(target), "--force"
    )
    assert code == 0, err
    assert "client_id:" in target.read_text()
    assert (seeded.root / "keys" / "skatteoppgjor-for-okonomi.jwks.json").is_file()


def test_existing_key_file_with_other_content_is_not_overwritten(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded.add(hand_made()[1:2])
    keyfile = seeded.root / "keys" / "skatteoppgjor-for-okonomi.jwks.json"
    keyfile.parent.mkdir()
    keyfile.write_text("{}\n")
    out = seeded.root / "imported.yaml"
    code, _, err = run(capsys, "import", "-C", str(seeded.root), "--env", "test", "--out", str(out))
    assert code == 4 and str(keyfile) in err
    assert not out.exists() and keyfile.read_text() == "{}\n"


def test_declared_keys_and_adopted_ids_are_not_reused(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = seeded.add([(c, None) for c, _ in hand_made()[2:4]])
    seeded.project.write(
        {
            "min-side": {**hand_made()[3][0], "client_name": "Annen"},
            "intranett": {**hand_made()[3][0], "client_id": second["client_id"]},
        }
    )
    code, out, err = run(capsys, "import", "-C", str(seeded.root), "--env", "test")
    assert code == 0, err
    clients = load_text(out, "stdout").data["clients"]
    assert list(clients) == ["min-side-2"]
    assert clients["min-side-2"]["client_id"] == first["client_id"]
    assert "already declared with client_id as 'intranett'" in err


def test_another_environment_without_a_file_is_not_an_error(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    (seeded.root / "selvsync.yaml").write_text(
        'orgno: "991825827"\nowner: team-a\nenvironments:\n'
        "  test: {api: emulator}\n  prod: {api: emulator}\n"
    )
    seeded.add(hand_made()[3:])
    code, out, err = run(capsys, "import", "-C", str(seeded.root), "--env", "test")
    assert code == 0, err
    assert list(load_text(out, "stdout").data["clients"]) == ["intranett"]
    assert "no state file" not in err  # only the selected environment needs one


def test_other_configuration_errors_still_exit_3(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    (seeded.root / "environments" / "test.yaml").write_text("clients: [\n")
    code, _, err = run(capsys, "import", "-C", str(seeded.root), "--env", "test")
    assert code == 3 and "invalid YAML" in err
    code, _, err = run(capsys, "import", "-C", str(seeded.root), "--env", "nope")
    assert code == 3 and "no environment named 'nope'" in err


def test_import_over_loopback_with_token_auth(
    served: tuple[Emulator, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu, url = served
    add_clients(emu, hand_made())
    monkeypatch.setenv("SELVSYNC_TEST_TOKEN", TOKEN)
    proj = ProjectDir(
        tmp_path / "p",
        project_yaml=(
            f'orgno: "{ORGNO}"\nowner: loop\nenvironments:\n  test:\n    api: {url}\n'
            "    auth: {method: token, token_env: SELVSYNC_TEST_TOKEN}\n"
            "    secrets: {file: .selvsync/secrets.json}\n"
        ),
    )
    target = proj.root / "environments" / "test.yaml"
    code, _, err = run(
        capsys, "import", "-C", str(proj.root), "--env", "test", "--out", str(target), "--force"
    )
    assert code == 0, err
    assert TOKEN not in err
    code, out, err = run(capsys, "apply", "-C", str(proj.root), "--auto-approve")
    assert code == 0, out + err
    assert "4 applied" in out
    code, out, err = run(capsys, "plan", "-C", str(proj.root), "--detailed-exitcode")
    assert code == 0, out + err


# ---------------------------------------------------------------- keys from names


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Min side", "min-side"),
        ("Skatteoppgjør for Økonomi", "skatteoppgjor-for-okonomi"),
        ("Blåbær-Æble", "blabaer-aeble"),
        ("Ærlig Åpen Øl", "aerlig-apen-ol"),
        ("Café Müller", "cafe-muller"),
        ("  --API (v2) // test__x  ", "api-v2-test__x"),
        ("🙂🙂", "client"),
        ("", "client"),
        ("1234", "1234"),
    ],
)
def test_slugify(name: str, key: str) -> None:
    assert slugify(name) == key
    assert KEY_PATTERN.match(key)


def test_long_names_are_cut_to_40_without_a_trailing_dash() -> None:
    name = "Innlogging for saksbehandlere i kommunens nye fagsystem for barnehage"
    key = slugify(name)
    assert len(key) <= KEY_MAX and KEY_PATTERN.match(key)
    assert key == "innlogging-for-saksbehandlere-i-kommunen"
    assert slugify("a" * 39 + " b") == "a" * 39  # "aaa…a-b" cut at 40 leaves a dash: dropped


def test_collisions_get_numbered_suffixes_within_40() -> None:
    taken: set[str] = set()
    keys = []
    for _ in range(3):
        key = derive_key("Min side", taken)
        taken.add(key)
        keys.append(key)
    assert keys == ["min-side", "min-side-2", "min-side-3"]
    long = "x" * 50
    first = derive_key(long, ())
    second = derive_key(long, {first})
    assert first == "x" * 40 and second == "x" * 38 + "-2"
    assert all(KEY_PATTERN.match(k) for k in (first, second))
    tenth = derive_key(long, {first, *(("x" * 38) + f"-{n}" for n in range(2, 10))})
    assert tenth == "x" * 37 + "-10"


def test_keys_are_stable_for_the_same_live_state() -> None:
    clients = [
        {
            "client_id": cid,
            "client_name": "Min side",
            "description": "d",
            "integration_type": "maskinporten",
            "scopes": ["a:b"],
        }
        for cid in ("b-id", "a-id")
    ]
    first = build_import("test", clients, "team-a")
    second = build_import("test", list(reversed(clients)), "team-a")
    assert [(c.key, c.client_id) for c in first.clients] == [
        ("min-side", "a-id"),
        ("min-side-2", "b-id"),
    ]
    assert [(c.key, c.client_id) for c in second.clients] == [
        (c.key, c.client_id) for c in first.clients
    ]


# ---------------------------------------------------------------- normalising


def test_normalise_drops_defaults_and_sorts_sets() -> None:
    live = {
        "client_id": "x",
        "client_orgno": ORGNO,
        "integration_type": "idporten",
        "application_type": "web",
        "client_name": "Min side",
        "description": "d",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code"],
        "scopes": ["profile", "openid"],
        "redirect_uris": ["https://b.example.no/", "https://a.example.no/"],
        "post_logout_redirect_uris": [],
        "frontchannel_logout_uri": "",
        "authorization_lifetime": 7200,
        "access_token_lifetime": 120,
        "refresh_token_lifetime": 600,
        "refresh_token_usage": "ONETIME",
        "sso_disabled": False,
        "frontchannel_logout_session_required": False,
        "code_challenge_method": "S256",
        "active": True,
        "jwks_uri": "https://x/jwks",
    }
    assert normalise(live) == {
        "integration_type": "idporten",
        "client_name": "Min side",
        "redirect_uris": ["https://a.example.no/", "https://b.example.no/"],
    }
    extra = normalise({**live, "scopes": ["openid", "profile", "eidas"]})
    assert extra["scopes"] == ["eidas", "openid", "profile"]


def test_normalise_keeps_public_client_settings() -> None:
    spa = {
        "integration_type": "idporten",
        "application_type": "browser",
        "client_name": "SPA",
        "token_endpoint_auth_method": "none",
        "code_challenge_method": "S256",
        "grant_types": ["authorization_code"],
    }
    assert normalise(spa) == {
        "integration_type": "idporten",
        "application_type": "browser",
        "client_name": "SPA",
    }


def test_public_jwks_keeps_only_public_members() -> None:
    keys = public_jwks(
        [
            {
                "kty": "RSA",
                "alg": "RS256",
                "use": "sig",
                "kid": "k",
                "e": "AQAB",
                "n": "x",
                "exp": 1,
                "x5c": ["..."],
            }
        ]
    )
    assert keys == [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k", "e": "AQAB", "n": "x"}]


def test_incomplete_keys_and_production_are_warned_about() -> None:
    client = {
        "client_id": "c",
        "client_name": "M",
        "description": "d",
        "integration_type": "maskinporten",
        "scopes": ["a:b"],
    }
    result = build_import(
        "prod",
        [client],
        "team-a",
        jwks={"c": [{"kty": "RSA", "kid": "k1", "e": "AQAB", "n": "x"}]},
        production=True,
    )
    assert any("key k1 lacks alg, use" in w for w in result.warnings)
    assert any("needs notification e-mails" in w for w in result.warnings)


# ---------------------------------------------------------------- what Digdir accepted


def test_import_round_trips_what_digdir_accepted_but_the_rules_refuse(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    """An http:// logo_uri (Digdir has accepted one), a legacy lifetime of 0, and a field
    selvsync does not know: the import validates, the next plan only adopts, and the adopt
    keeps what it cannot manage."""
    body = {
        "integration_type": "idporten",
        "client_name": "Gammel portal",
        "description": "Gammel portal",
        "token_endpoint_auth_method": "private_key_jwt",
        "redirect_uris": ["https://gammel.example.no/cb"],
        "post_logout_redirect_uris": ["https://gammel.example.no/"],
        "logo_uri": "http://gammel.example.no/logo.png",
        "x_future_setting": {"mode": "strict"},
    }
    (made,) = seeded.add([(body, None)])
    emu = seeded.emulator()
    try:  # Digdir once stored 0 for "the default"; its API refuses 0 since 2025
        row = emu.store.get_client(made["client_id"])
        assert row is not None
        row.fields["refresh_token_lifetime"] = 0
        emu.store.save_client(row)
    finally:
        emu.close()
    env_file = seeded.root / "environments" / "test.yaml"
    env_file.unlink()
    code, _, err = run(capsys, "import", "-C", str(seeded.root), "--env", "test",
                       "--out", str(env_file))
    assert code == 0, err
    assert "logo_uri is refused by selvsync's rules; kept as Digdir holds it" in err
    assert "refresh_token_lifetime is 0 in Digdir; omitted" in err
    text = env_file.read_text()
    assert "# kept as Digdir holds them on every update, not managed by selvsync: " \
        "x_future_setting" in text
    assert "# refresh_token_lifetime: 0 in Digdir" in text
    (entry,) = load_text(text, "test.yaml").data["clients"].values()
    assert entry["ignore"] == ["logo_uri"]
    assert entry["logo_uri"] == "http://gammel.example.no/logo.png"
    assert "refresh_token_lifetime" not in entry
    code, out, err = run(capsys, "validate", "-C", str(seeded.root))
    assert code == 0, out + err
    code, out, err = run(capsys, "plan", "-C", str(seeded.root), "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert [c["action"] for c in plan["changes"]] == ["adopt"]
    code, out, err = run(capsys, "apply", "-C", str(seeded.root), "--auto-approve")
    assert code == 0, out + err
    after = seeded.live()[made["client_id"]]
    assert after["logo_uri"] == "http://gammel.example.no/logo.png"
    assert after["x_future_setting"] == {"mode": "strict"}
    assert after["refresh_token_lifetime"] == 600  # the adopt set Digdir's default
    code, out, err = run(capsys, "plan", "-C", str(seeded.root), "--detailed-exitcode")
    assert code == 0, out + err
