"""Newer Digdir fields and rules: backchannel logout, Ansattporten's PKCE and forced SSO."""

from __future__ import annotations

from typing import Any

import pytest

from selvsync.plan import diff
from selvsync.rules import check_client, effective_defaults


def login(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "integration_type": "idporten",
        "client_name": "Min side",
        "token_endpoint_auth_method": "private_key_jwt",
        "redirect_uris": ["https://minside.example.no/callback"],
        "post_logout_redirect_uris": ["https://minside.example.no/"],
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def problems(client: dict[str, Any], *, production: bool = False) -> list[str]:
    return [
        f"{d.field}: {d.message}"
        for d in check_client(
            "app", client, production=production, locate=lambda _p: None, field_prefix="clients.app"
        )
    ]


def test_backchannel_logout_on_a_redirect_host_is_valid() -> None:
    assert problems(login(backchannel_logout_uri="https://minside.example.no/bc")) == []


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        # Same domain is enough for front-channel logout, not for back-channel.
        ("https://logout.example.no/bc", "host logout.example.no is not the host of any"),
        ("http://minside.example.no/bc", "must use https://"),
        ("ftp://minside.example.no/bc", "must use https://"),
        ("/bc", "is not an absolute URI"),
    ],
)
def test_backchannel_logout_rules(uri: str, message: str) -> None:
    found = problems(login(backchannel_logout_uri=uri))
    assert any(p.startswith("clients.app.backchannel_logout_uri: ") and message in p
               for p in found), found


def test_backchannel_logout_is_for_login_clients_only() -> None:
    machine = {
        "integration_type": "maskinporten",
        "client_name": "Batch",
        "scopes": ["org:api.read"],
        "backchannel_logout_uri": "https://batch.example.no/bc",
    }
    assert any("must not have backchannel_logout_uri" in p for p in problems(machine))


def test_backchannel_logout_session_required_is_read_only() -> None:
    found = problems(login(backchannel_logout_session_required=True))
    assert any("backchannel_logout_session_required is read-only" in p for p in found)


@pytest.mark.parametrize("app", ["web", "browser", "native"])
def test_ansattporten_needs_s256(app: str) -> None:
    method = "none" if app != "web" else "private_key_jwt"
    client = login(integration_type="ansattporten", application_type=app,
                   token_endpoint_auth_method=method, code_challenge_method="none")
    if app == "native":
        client["redirect_uris"] = ["no.example.app:/callback"]
    found = problems(client)
    assert any(p.startswith("clients.app.code_challenge_method: ansattporten clients must use "
                            "PKCE with S256") for p in found), found
    client["code_challenge_method"] = "S256"
    assert problems(client) == []


def test_idporten_web_may_still_turn_pkce_off() -> None:
    assert problems(login(code_challenge_method="none")) == []


def test_ansattporten_sso_disabled_false_is_refused_true_and_omitted_are_fine() -> None:
    found = problems(login(integration_type="ansattporten", sso_disabled=False))
    assert found == [
        "clients.app.sso_disabled: Digdir forces sso_disabled: true on ansattporten clients; "
        "false would never take effect"
    ]
    assert problems(login(integration_type="ansattporten", sso_disabled=True)) == []
    assert problems(login(integration_type="ansattporten")) == []
    assert problems(login(sso_disabled=False)) == []  # idporten: a free choice


def test_forced_sso_is_a_server_default_for_ansattporten_only() -> None:
    assert effective_defaults("ansattporten")["sso_disabled"] is True
    assert effective_defaults("ansattporten", "browser")["sso_disabled"] is True
    assert effective_defaults("idporten")["sso_disabled"] is False
    live = {**login(integration_type="ansattporten"), "sso_disabled": True}
    assert diff.compare(login(integration_type="ansattporten"), live) == []


@pytest.mark.parametrize("value", ["bilde.gif", "/img/logo.png", "../logo.svg"])
def test_relative_logo_and_client_uri_pass_as_at_digdir(value: str) -> None:
    assert problems(login(logo_uri=value, client_uri=value)) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [("http://x.example.no/l.png", "must use https://"), ("bilde .gif", "whitespace"),
     ("//cdn.example.no/l.png", "not an absolute URI"), ("javascript:alert(1)", "https://")],
)
def test_other_logo_uris_are_still_refused(value: str, message: str) -> None:
    assert any(message in p for p in problems(login(logo_uri=value)))
