"""digdir-api.md, Authentication: RFC 8414 metadata (fidelity item 1) and the JWT grant."""

from __future__ import annotations

import pytest

from .conftest import ISSUER, JWT_BEARER, Digdir, MakeDigdir

METADATA = "/.well-known/oauth-authorization-server"


def test_metadata_is_served_at_the_emulator_root_naming_its_own_token_endpoint(
        digdir: Digdir) -> None:
    # Shape of Maskinporten's https://maskinporten.no/.well-known/oauth-authorization-server
    # (RFC 8414): issuer, token_endpoint, jwks_uri, grant and auth-method lists.
    response = digdir.root.get(METADATA)
    assert response.status_code == 200
    meta = response.json()
    assert meta["issuer"] == ISSUER
    assert meta["token_endpoint"] == f"{digdir.server.url}/token"
    assert meta["jwks_uri"] == f"{digdir.server.url}/jwk"
    assert meta["grant_types_supported"] == [JWT_BEARER]
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "RS256" in meta["token_endpoint_auth_signing_alg_values_supported"]


def test_metadata_urls_follow_the_host_the_client_used(digdir: Digdir) -> None:
    meta = digdir.root.get(METADATA, headers={"Host": "proxy.example:8443"}).json()
    assert meta["token_endpoint"] == "http://proxy.example:8443/token"


def test_metadata_is_also_served_under_the_issuers_path(make_digdir: MakeDigdir) -> None:
    digdir = make_digdir(issuer="https://login.example/maskinporten/")
    assert digdir.root.get("/maskinporten" + METADATA).json()["issuer"] == (
        "https://login.example/maskinporten/")
    assert digdir.root.get(METADATA).status_code == 200


def test_the_jwks_uri_answers_a_key_set(digdir: Digdir) -> None:
    jwks_uri = digdir.root.get(METADATA).json()["jwks_uri"]
    assert digdir.root.get(jwks_uri).json() == {"keys": []}


def test_a_discovered_token_endpoint_issues_a_bearer_token_the_api_accepts(
        digdir: Digdir) -> None:
    token_endpoint = digdir.root.get(METADATA).json()["token_endpoint"]
    response = digdir.root.post(token_endpoint, data={"grant_type": JWT_BEARER,
                                                "assertion": digdir.assertion()})
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "Bearer" and token["scope"] == "idporten:dcr.read"
    assert token["expires_in"] > 0
    listed = digdir.api.get("/clients",
                            headers={"Authorization": f"Bearer {token['access_token']}"})
    assert listed.status_code == 200


def test_aud_must_be_the_issuer_not_the_token_url(digdir: Digdir) -> None:
    refused = digdir.grant(digdir.assertion(aud=f"{digdir.server.url}/token"))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert "aud" in refused.json()["error_description"]


def test_exp_may_be_at_most_120_seconds_after_iat(digdir: Digdir) -> None:
    now = int(digdir.clock.now)
    assert digdir.grant(digdir.assertion(exp=now + 120)).status_code == 200
    assert digdir.grant(digdir.assertion(exp=now + 121)).status_code == 400


def test_a_reused_jti_is_refused_grant_is_used_before(digdir: Digdir) -> None:
    assertion = digdir.assertion(jti="same")
    assert digdir.grant(assertion).status_code == 200
    again = digdir.grant(digdir.assertion(jti="same"))
    assert again.status_code == 400 and "Grant is used before" in again.json()[
        "error_description"]


@pytest.mark.parametrize(("skew", "status"), [(-9, 200), (9, 200), (-30, 400), (30, 400)])
def test_iat_may_differ_from_the_server_clock_by_about_10_seconds(digdir: Digdir, skew: int,
                                                                 status: int) -> None:
    iat = int(digdir.clock.now) + skew
    assert digdir.grant(digdir.assertion(iat=iat, exp=iat + 60)).status_code == status
