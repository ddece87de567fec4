"""``selvsync emulator``: flags, what it prints, and that it really serves."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa

from selvsync.cli import emulator as cli_emulator
from selvsync.emulator.server import RunningServer

from .helpers import (
    OTHER_ORG,
    assertion,
    certificate,
    grant,
    maskinporten,
    pem,
    public_jwk,
    x5c,
)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[RunningServer]:
    servers: list[RunningServer] = []
    real_serve = cli_emulator.serve  # type: ignore[attr-defined]

    def capture(*args: Any, **kwargs: Any) -> RunningServer:
        servers.append(real_serve(*args, **kwargs))
        return servers[-1]

    monkeypatch.setattr(cli_emulator, "serve", capture)
    return servers


def run(monkeypatch: pytest.MonkeyPatch, args: list[str],
        while_serving: Callable[[], None]) -> Any:
    monkeypatch.setattr(cli_emulator, "_wait_forever", while_serving)
    return CliRunner().invoke(cli_emulator.emulator_command, args, catch_exceptions=False)


def test_serves_with_a_static_token(monkeypatch: pytest.MonkeyPatch,
                                    started: list[RunningServer], tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def use() -> None:
        url = started[0].url
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer dev"}) as http:
            seen["created"] = http.post("/external/api/v1/clients", json=maskinporten()).json()
            seen["no_token"] = httpx.get(f"{url}/external/api/v1/clients").status_code

    db = tmp_path / "state" / "emu.db"
    result = run(monkeypatch, ["--token", "dev", "--orgno", OTHER_ORG, "--db", str(db),
                               "--prefix", "/external/api/v1", "--seed", "1"], use)
    assert result.exit_code == 0, result.output
    assert seen["created"]["client_orgno"] == OTHER_ORG
    assert seen["no_token"] == 401
    assert f"listening on {started[0].url}" in result.stderr
    assert started[0].host == "127.0.0.1"
    assert db.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(started[0].url)


def test_token_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                    started: list[RunningServer]) -> None:
    statuses: list[int] = []

    def use() -> None:
        response = httpx.get(f"{started[0].url}/api/v1/clients",
                             headers={"Authorization": "Bearer from-env"})
        statuses.append(response.status_code)

    monkeypatch.setenv("SELVSYNC_EMULATOR_TOKEN", "from-env")
    result = run(monkeypatch, [], use)
    assert result.exit_code == 0 and statuses == [200]
    assert "from-env" not in result.output + result.stderr


def test_ctrl_c_propagates_and_stops_the_server(monkeypatch: pytest.MonkeyPatch,
                                                started: list[RunningServer]) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_emulator, "_wait_forever", interrupted)
    # Click turns the interrupt into Abort; the main CLI maps that to exit code 130.
    with pytest.raises(click.Abort) as caught:
        cli_emulator.emulator_command.main(["--token", "t"], standalone_mode=False)
    assert isinstance(caught.value.__cause__, KeyboardInterrupt)
    with pytest.raises(httpx.ConnectError):
        httpx.get(started[0].url)


def test_admin_client_with_a_trusted_certificate(monkeypatch: pytest.MonkeyPatch,
                                                 started: list[RunningServer], tmp_path: Path,
                                                 rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    now = time.time()
    cert = certificate(rsa_keys[0], "Admin", not_before=now - 3600)
    cert_file = tmp_path / "admin.pem"
    cert_file.write_bytes(pem(cert))
    jwks_file = tmp_path / "admin.jwks"
    jwks_file.write_text(json.dumps({"keys": [public_jwk(rsa_keys[1], "cli-kid")]}))
    statuses: list[int] = []

    def use() -> None:
        with httpx.Client(base_url=started[0].url) as http:
            signers: list[tuple[rsa.RSAPrivateKey, dict[str, Any]]] = [
                (rsa_keys[0], {"x5c": x5c(cert)}), (rsa_keys[1], {"kid": "cli-kid"})]
            for key, header in signers:
                token = assertion(key, now=time.time(), iss="cli-admin",
                                  aud="https://test.example/", headers=header)
                statuses.append(grant(http, token).status_code)

    result = run(monkeypatch, ["--admin-client", "cli-admin", "--trust-cert", str(cert_file),
                               "--admin-jwks", str(jwks_file), "--issuer",
                               "https://test.example/"], use)
    assert result.exit_code == 0, result.output
    assert statuses == [200, 200]


def test_usage_errors(tmp_path: Path) -> None:
    pem_file = tmp_path / "c.pem"
    pem_file.write_text("x")
    runner = CliRunner()
    orphan = runner.invoke(cli_emulator.emulator_command, ["--trust-cert", str(pem_file)])
    assert orphan.exit_code == 2 and "--admin-client" in orphan.stderr
    orgno = runner.invoke(cli_emulator.emulator_command, ["--orgno", "123456789"])
    assert orgno.exit_code == 2 and "--orgno" in orgno.stderr
    prefix = runner.invoke(cli_emulator.emulator_command, ["--prefix", "api/"])
    assert prefix.exit_code == 2 and "prefix" in prefix.stderr
    bad_cert = runner.invoke(cli_emulator.emulator_command,
                             ["--admin-client", "a", "--trust-cert", str(pem_file)])
    assert bad_cert.exit_code == 2


def test_warns_without_credentials_and_off_loopback(monkeypatch: pytest.MonkeyPatch,
                                                    started: list[RunningServer]) -> None:
    result = run(monkeypatch, ["--host", "0.0.0.0"], lambda: None)
    assert result.exit_code == 0
    assert "not bound to loopback" in result.stderr
    assert "every API call gets 401" in result.stderr


def test_fidelity_options(monkeypatch: pytest.MonkeyPatch, started: list[RunningServer]) -> None:
    seen: dict[str, Any] = {}
    ansatt = {**maskinporten(), "integration_type": "ansattporten", "scopes": [],
              "grant_types": ["authorization_code"], "sso_disabled": False,
              "redirect_uris": ["https://a.example.no/cb"],
              "post_logout_redirect_uris": ["https://a.example.no/"]}

    def use() -> None:
        with httpx.Client(base_url=started[0].url + "/api/v1",
                          headers={"Authorization": "Bearer dev"}) as http:
            bad = http.post("/clients", json={"integration_type": "idporten"})
            seen["error"] = (bad.headers["content-type"], bad.text)
            made = http.post("/clients", json=maskinporten()).json()
            seen["jwks"] = http.get(f"/clients/{made['client_id']}/jwks").json()
            seen["ansatt"] = http.post("/clients", json=ansatt).json()
            seen["scopes"] = http.get("/scopes")
            seen["prefixes"] = http.get("/prefix").json()

    result = run(monkeypatch, ["--token", "dev", "--error-shape", "plain", "--keyless-jwks",
                               "empty", "--no-ansattporten-sso-forced", "--empty-list-status",
                               "none", "--scope-prefix", "skatt"], use)
    assert result.exit_code == 0, result.output
    assert seen["error"][0].startswith("text/plain") and "client_name" in seen["error"][1]
    assert seen["jwks"] == {}
    assert seen["ansatt"]["sso_disabled"] is False
    assert seen["scopes"].status_code == 200 and seen["scopes"].json() == []
    assert [p["prefix"] for p in seen["prefixes"]] == ["skatt"]


def test_fidelity_option_usage_errors() -> None:
    runner = CliRunner()
    for args in (["--error-shape", "json"], ["--keyless-jwks", "null"],
                 ["--empty-list-status", "abc"], ["--foreign-client-status", "500"],
                 ["--scope-prefix", "Not Valid"]):
        result = runner.invoke(cli_emulator.emulator_command, ["--token", "t", *args])
        assert result.exit_code == 2, (args, result.output)
