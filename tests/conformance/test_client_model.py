"""digdir-api.md, The client model (and fidelity items 4, 7 and 8)."""

from __future__ import annotations

import pytest

from .conftest import Digdir, MakeDigdir, idporten, maskinporten

KRR = {"krr:global/kontaktinformasjon.read", "krr:global/digitalpost.read"}


def test_idporten_clients_always_get_openid_and_profile(digdir: Digdir) -> None:
    client = digdir.create(idporten(scopes=["eidas"]))
    assert set(client["scopes"]) == {"openid", "profile", "eidas"}
    assert set(digdir.create(idporten())["scopes"]) == {"openid", "profile"}


def test_krr_clients_without_scopes_get_the_two_krr_scopes(digdir: Digdir) -> None:
    client = digdir.create(maskinporten(integration_type="krr", scopes=None))
    assert set(client["scopes"]) == KRR


def test_default_lifetimes_are_7200_120_600(digdir: Digdir) -> None:
    client = digdir.create(idporten())
    assert (client["authorization_lifetime"], client["access_token_lifetime"],
            client["refresh_token_lifetime"]) == (7200, 120, 600)


@pytest.mark.parametrize("field", ["authorization_lifetime", "access_token_lifetime",
                                   "refresh_token_lifetime"])
def test_a_lifetime_of_0_is_rejected_with_400(digdir: Digdir, field: str) -> None:
    response = digdir.api.post("/clients", json=idporten(**{field: 0}))
    assert response.status_code == 400
    assert [e["fieldIdentifier"] for e in response.json()["errors"]] == [field]


def test_read_only_fields_in_a_body_are_ignored(digdir: Digdir) -> None:
    client = digdir.create(maskinporten())
    body = {**maskinporten(), "client_id": "other", "created": "2019-03-08T15:50:40.540+01:00",
            "active": False, "jwks_uri": "https://x/", "last_updated": "x",
            "client_orgno": client["client_orgno"], "supplier_orgno": None}
    updated = digdir.api.put(f"/clients/{client['client_id']}", json=body).json()
    assert updated["client_id"] == client["client_id"] and updated["active"] is True
    assert updated["created"] == client["created"] and updated["jwks_uri"] == client["jwks_uri"]


def test_integration_type_cannot_change(digdir: Digdir) -> None:
    client = digdir.create(idporten())
    path = f"/clients/{client['client_id']}"
    changed = digdir.api.put(path, json=idporten(integration_type="ansattporten"))
    assert changed.status_code == 400
    assert changed.json()["errors"][0]["fieldIdentifier"] == "integration_type"
    # Omitting it on PUT is fine (the Postman collection's PUT bodies sometimes do).
    assert digdir.api.put(path, json=idporten(integration_type=None)).status_code == 200


def test_put_is_a_full_replace_and_keeps_read_only_fields(digdir: Digdir) -> None:
    client = digdir.create(idporten(client_uri="https://minside.example.no/",
                                    logo_uri="https://minside.example.no/logo.png",
                                    frontchannel_logout_uri="https://minside.example.no/fc",
                                    access_token_lifetime=300, x_future_field="kept"))
    path = f"/clients/{client['client_id']}"
    replaced = digdir.api.put(path, json=idporten(client_name="Ny")).json()
    for gone in ("client_uri", "logo_uri", "frontchannel_logout_uri", "x_future_field"):
        assert gone not in replaced, gone
    assert replaced["access_token_lifetime"] == 120  # back to the server default
    for kept in ("client_id", "client_orgno", "created", "active", "jwks_uri"):
        assert replaced[kept] == client[kept], kept
    assert digdir.api.get(path).json() == replaced


def test_every_accepted_field_is_stored_and_returned_including_unknown_ones(
        digdir: Digdir) -> None:
    # A POST body of felleslosninger/eid-postman-test-collections (Ondemand_Serviceprovider_API
    # .json, "oidc-client-controller" /clients POST): fields the API does not document
    # (client_type, token_reference, force_pkce, default_scopes), read-only ones, nulls and a
    # relative logo_uri, answered 201. Plus scopes, which digdir-api.md requires of
    # maskinporten clients (the 2019 body had none; see the report on the fidelity issue).
    body = {
        "client_name": "knut-oidc-test", "description": "Knut sin testklient oidc",
        "authorization_lifetime": 3600, "access_token_lifetime": 3600,
        "refresh_token_lifetime": 3600, "client_type": "PUBLIC", "token_reference": "OPAQUE",
        "refresh_token_usage": "ONETIME", "frontchannel_logout_session_required": False,
        "force_pkce": False, "client_id": "123456789", "client_orgno": None,
        "client_uri": "https://wwww.knut.no", "supplier_orgno": None, "active": False,
        "default_scopes": [], "logo_uri": "bilde.gif",
        "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "last_updated": "2019-03-21T17:03:59.583+01:00",
        "created": "2019-03-08T15:50:40.540+01:00", "integration_type": "maskinporten",
        "scopes": ["skatteetaten:testscope"],
    }
    response = digdir.api.post("/clients", json=body)
    assert response.status_code == 201, response.text
    client = response.json()
    assert client["active"] is True and client["client_id"] != "123456789"
    written = {k: v for k, v in body.items() if v is not None and k not in {
        "client_id", "active", "last_updated", "created"}}
    assert {k: client[k] for k in written} == written
    assert digdir.api.get(f"/clients/{client['client_id']}").json() == client


def test_a_relative_logo_uri_is_accepted(digdir: Digdir) -> None:
    assert digdir.create(idporten(logo_uri="bilde.gif"))["logo_uri"] == "bilde.gif"


def test_backchannel_logout_uri_is_stored_and_session_required_is_set_by_the_server(
        digdir: Digdir) -> None:
    client = digdir.create(idporten(backchannel_logout_uri="https://minside.example.no/bc",
                                    backchannel_logout_session_required=False))
    assert client["backchannel_logout_uri"] == "https://minside.example.no/bc"
    assert client["backchannel_logout_session_required"] is True
    plain = digdir.create(idporten(integration_type="api_klient"))
    assert "backchannel_logout_uri" not in plain
    assert plain["backchannel_logout_session_required"] is False


@pytest.mark.parametrize("kind", ["idporten", "ansattporten", "api_klient"])
def test_backchannel_logout_uri_host_must_be_a_redirect_uri_host(digdir: Digdir,
                                                                 kind: str) -> None:
    response = digdir.api.post("/clients", json=idporten(
        integration_type=kind, backchannel_logout_uri="https://example.no/bc"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["fieldIdentifier"] == "backchannel_logout_uri"


def test_ansattporten_pkce_must_be_s256(digdir: Digdir) -> None:
    refused = digdir.api.post("/clients", json=idporten(integration_type="ansattporten",
                                                        code_challenge_method="none"))
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["fieldIdentifier"] == "code_challenge_method"
    made = digdir.create(idporten(integration_type="ansattporten"))
    assert made["code_challenge_method"] == "S256"


def test_ansattporten_sso_disabled_is_forced_true_by_the_server(
        make_digdir: MakeDigdir) -> None:
    digdir = make_digdir()  # forced by default, as at Digdir
    client = digdir.create(idporten(integration_type="ansattporten", sso_disabled=False))
    assert client["sso_disabled"] is True
    path = f"/clients/{client['client_id']}"
    assert digdir.api.put(path, json=idporten(integration_type="ansattporten")).json()[
        "sso_disabled"] is True
    assert digdir.create(idporten(sso_disabled=False))["sso_disabled"] is False


def test_ansattporten_sso_disabled_as_sent_when_not_forced(make_digdir: MakeDigdir) -> None:
    digdir = make_digdir(ansattporten_sso_forced=False)
    client = digdir.create(idporten(integration_type="ansattporten", sso_disabled=False))
    assert client["sso_disabled"] is False
