"""digdir-api.md, Allowed combinations (Digdir's own table) and the other rules under it."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Digdir, idporten, maskinporten

PUBLIC = {"token_endpoint_auth_method": "none", "code_challenge_method": "S256"}

ALLOWED: list[tuple[str, dict[str, Any]]] = [
    *[(f"idporten web {m}", idporten(token_endpoint_auth_method=m))
      for m in ("client_secret_basic", "client_secret_post", "private_key_jwt")],
    ("idporten browser none", idporten(application_type="browser", **PUBLIC)),
    ("idporten native none", idporten(application_type="native", **PUBLIC)),
    ("idporten eidas and no_pid", idporten(scopes=["eidas", "no_pid"])),
    ("api_klient extra scope", idporten(integration_type="api_klient", scopes=["nav:x"])),
    ("ansattporten extra scope", idporten(integration_type="ansattporten", scopes=["nav:x"])),
    ("ansattporten browser", idporten(integration_type="ansattporten",
                                      application_type="browser", **PUBLIC)),
    ("maskinporten", maskinporten()),
    ("krr with its scopes", maskinporten(integration_type="krr",
                                         scopes=["krr:global/kontaktinformasjon.read"])),
]

REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("idporten other scope", idporten(scopes=["nav:x"]), "scopes"),
    ("idporten web with none", idporten(token_endpoint_auth_method="none"),
     "token_endpoint_auth_method"),
    ("browser with a secret", idporten(application_type="browser"),
     "token_endpoint_auth_method"),
    ("browser without PKCE", idporten(application_type="browser",
                                      token_endpoint_auth_method="none",
                                      code_challenge_method="none"), "code_challenge_method"),
    ("maskinporten with a secret",
     maskinporten(token_endpoint_auth_method="client_secret_basic"),
     "token_endpoint_auth_method"),
    ("maskinporten without scopes", maskinporten(scopes=None), "scopes"),
    ("maskinporten with the code grant", maskinporten(grant_types=["authorization_code"]),
     "grant_types"),
    ("krr with another scope", maskinporten(integration_type="krr", scopes=["nav:x"]), "scopes"),
    *[(f"{g} grant", idporten(grant_types=["authorization_code", g]), "grant_types")
      for g in ("implicit", "password", "client_credentials")],
    ("login without redirect_uris", idporten(redirect_uris=[]), "redirect_uris"),
    ("login without post_logout_redirect_uris", idporten(post_logout_redirect_uris=[]),
     "post_logout_redirect_uris"),
    ("frontchannel logout on another domain",
     idporten(frontchannel_logout_uri="https://other.no/logout"), "frontchannel_logout_uri"),
    ("eformidling is Digdir-administered", maskinporten(integration_type="eformidling"),
     "integration_type"),
]


@pytest.mark.parametrize("body", [b for _, b in ALLOWED], ids=[n for n, _ in ALLOWED])
def test_allowed_combinations_are_created(digdir: Digdir, body: dict[str, Any]) -> None:
    response = digdir.api.post("/clients", json=body)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in REFUSED],
                         ids=[n for n, _, _ in REFUSED])
def test_other_combinations_are_refused_naming_the_field(digdir: Digdir, body: dict[str, Any],
                                                         field: str) -> None:
    response = digdir.api.post("/clients", json=body)
    assert response.status_code == 400
    assert field in {e["fieldIdentifier"] for e in response.json()["errors"]}
