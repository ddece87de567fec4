"""Credentials go only to trusted hosts, and a token never carries more than the command needs.

A pull request controls selvsync.yaml, not the CI job's environment. So a YAML-only change that
points ``token_endpoint`` (or ``api``) at another host fails every command with exit 3 before
any key is loaded or any grant signed; a host the job's owner trusts through
``SELVSYNC_TRUSTED_HOSTS`` is used, and a plan's grant asks for ``idporten:dcr.read`` alone.
Every request and every grant is captured (tests/api/test_discovery.py's ``_Capture``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from selvsync.cli import main
from selvsync.errors import ExitCode

from .conftest import ORGNO, Pki, key_pem, write_private
from .emulator_support import KID
from .test_discovery import _Capture, _Served, served  # noqa: F401  (fixture)


def _project(root: Path, pki: Pki, api: str, token_endpoint: str, extra: str = "") -> Path:
    write_private(root / "admin-key.pem", key_pem(pki.other_key))
    (root / "selvsync.yaml").write_text(
        f'orgno: "{ORGNO}"\n'
        "environments:\n"
        "  test:\n"
        f"    api: {api}\n"
        "    issuer: https://test.maskinporten.no/\n"
        f"    token_endpoint: {token_endpoint}\n"
        f"    auth: {{method: key, client_id: admin-key, kid: {KID}, "
        f"private_key: admin-key.pem{extra}}}\n"
    )
    (root / "environments").mkdir(exist_ok=True)
    (root / "environments" / "test.yaml").write_text("clients: {}\n")
    return root


@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
def test_a_token_endpoint_named_only_in_yaml_gets_no_grant(
    tmp_path: Path,
    pki: Pki,
    served: Callable[..., _Served],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    digdir = served()
    project = _project(tmp_path, pki, digdir.base, "https://evil.example.net/token")
    capture = _Capture(monkeypatch)
    args = [command, "-C", str(project)] + (["--auto-approve"] if command == "apply" else [])
    code = main(args)
    err = capsys.readouterr().err
    assert code == ExitCode.CONFIG, err
    assert "selvsync.yaml:6:21: environments.test.token_endpoint:" in err
    assert "evil.example.net is not one of Digdir's hosts" in err
    assert "SELVSYNC_TRUSTED_HOSTS=evil.example.net" in err
    assert capture.signed == []
    assert capture.urls == []  # not even the API was asked
    assert digdir.emu.counters() == {}


def test_an_api_host_named_only_in_yaml_gets_no_token(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(
        tmp_path, pki, "https://api.evil.example.net", "https://test.maskinporten.no/token"
    )
    capture = _Capture(monkeypatch)
    assert main(["plan", "-C", str(project)]) == ExitCode.CONFIG
    assert "selvsync.yaml:4:10: environments.test.api:" in capsys.readouterr().err
    assert capture.signed == [] and capture.urls == []


@pytest.mark.parametrize(
    ("command", "scope"),
    [
        ("plan", "idporten:dcr.read"),
        ("apply", "idporten:dcr.read idporten:dcr.write"),
    ],
)
def test_a_trusted_host_gets_a_grant_for_exactly_what_the_command_needs(
    tmp_path: Path,
    pki: Pki,
    served: Callable[..., _Served],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    scope: str,
) -> None:
    digdir = served()
    project = _project(tmp_path, pki, digdir.base, "https://mp.example.net/token")
    monkeypatch.setenv("SELVSYNC_TRUSTED_HOSTS", "other.example.org, mp.example.net")
    capture = _Capture(monkeypatch)
    args = [command, "-C", str(project)] + (["--auto-approve"] if command == "apply" else [])
    # The stand-in token endpoint refuses every grant: exit 1, after the grant was signed.
    assert main(args) == ExitCode.ERROR, capsys.readouterr().err
    assert "https://mp.example.net/token" in capture.urls
    assert [claims["scope"] for claims in capture.signed] == [scope]


def test_yaml_can_narrow_apply_scopes_but_never_widen_a_token(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(
        tmp_path,
        pki,
        "https://api.test.samarbeid.digdir.no",
        "https://test.maskinporten.no/token",
        ", scopes: {plan: [idporten:dcr.write], "
        "apply: [idporten:dcr.write, idporten:scopes.write]}",
    )
    assert main(["validate", "-C", str(project)]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "auth.scopes.plan[0]: 'idporten:dcr.write' may not be requested for plan" in err
    assert "auth.scopes.apply[1]: 'idporten:scopes.write' may not be requested for apply" in err
    assert "auth.scopes.apply[0]" not in err


def test_a_ca_bundle_in_yaml_is_refused(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(
        tmp_path,
        pki,
        "https://api.test.samarbeid.digdir.no",
        "https://test.maskinporten.no/token",
        ", ca_bundle: certs/attacker-ca.pem",
    )
    assert main(["validate", "-C", str(project)]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "environments.test.auth.ca_bundle: a CA bundle in YAML" in err
    assert "SELVSYNC_CA_BUNDLE" in err


def _workspace(root: Path, pki: Pki, api: str, *, supplier: bool, extra: str = "") -> Path:
    """A project of two customers reached through the project's credential."""
    _project(root, pki, api, "https://mp.example.net/token", extra)
    (root / "environments" / "test.yaml").unlink()
    (root / "environments").rmdir()
    text = (root / "selvsync.yaml").read_text()
    text += f"supplier: {'true' if supplier else 'false'}\norganisations:\n"
    for name, orgno in (("nordby", "910000004"), ("sorvik", "910000012")):
        text += f'  {name}: {{orgno: "{orgno}"}}\n'
        (root / "organisations" / name).mkdir(parents=True)
        (root / "organisations" / name / "test.yaml").write_text("clients: {}\n")
    (root / "selvsync.yaml").write_text(text)
    return root


@pytest.mark.parametrize(
    ("command", "supplier", "scope"),
    [
        ("plan", True, "idporten:dcr.read idporten:dcr.supplier"),
        ("apply", True, "idporten:dcr.read idporten:dcr.supplier idporten:dcr.write"),
        ("plan", False, "idporten:dcr.read"),
        ("apply", False, "idporten:dcr.read idporten:dcr.write"),
    ],
)
def test_a_supplier_credential_asks_for_the_supplier_scope_too(
    tmp_path: Path,
    pki: Pki,
    served: Callable[..., _Served],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    supplier: bool,
    scope: str,
) -> None:
    """`supplier: true` in selvsync.yaml (not a scope list) adds idporten:dcr.supplier to the
    one grant of the shared credential; a group's credential never asks for it."""
    digdir = served()
    project = _workspace(tmp_path, pki, digdir.base, supplier=supplier)
    monkeypatch.setenv("SELVSYNC_TRUSTED_HOSTS", "mp.example.net")
    capture = _Capture(monkeypatch)
    args = [command, "-C", str(project)] + (["--auto-approve"] if command == "apply" else [])
    assert main(args) != 0  # the stand-in token endpoint refuses every grant
    assert capsys.readouterr().err
    assert {claims["scope"] for claims in capture.signed} == {scope}


def test_yaml_cannot_ask_for_the_supplier_scope(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(
        tmp_path, pki, "https://api.test.samarbeid.digdir.no", "https://test.maskinporten.no/token",
        ", scopes: {apply: [idporten:dcr.write, idporten:dcr.supplier]}",
    )
    capture = _Capture(monkeypatch)
    assert main(["plan", "-C", str(project)]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "'idporten:dcr.supplier' may not be requested for apply" in err
    assert capture.signed == []
