"""Contract tests for /clients over raw HTTP: create, read, replace, deactivate."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from selvsync.emulator import Emulator

from .conftest import client_for
from .helpers import API, JWT_BEARER, ORG, FakeClock, create, field_errors, idporten, maskinporten

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0[12]:00$")


def test_create_assigns_server_fields_and_defaults(http: httpx.Client) -> None:
    body = idporten(grant_types=None, token_endpoint_auth_method=None)
    client = create(http, body)
    assert uuid.UUID(client["client_id"]).version == 4
    assert client["client_orgno"] == ORG
    assert "supplier_orgno" not in client
    assert client["active"] is True
    assert TIMESTAMP.match(client["created"]) and client["created"] == client["last_updated"]
    assert client["created"] == "2023-11-14T23:13:20.000+01:00"
    assert client["jwks_uri"] == f"http://emulator{API}/clients/{client['client_id']}/jwks"
    assert set(client["scopes"]) == {"openid", "profile"}
    assert client["grant_types"] == ["authorization_code"]
    assert client["token_endpoint_auth_method"] == "client_secret_basic"
    assert (client["authorization_lifetime"], client["access_token_lifetime"],
            client["refresh_token_lifetime"]) == (7200, 120, 600)
    assert client["refresh_token_usage"] == "ONETIME"
    assert client["code_challenge_method"] == "S256"
    assert client["sso_disabled"] is False
    assert client["frontchannel_logout_session_required"] is False


def test_machine_client_defaults(http: httpx.Client) -> None:
    client = create(http, maskinporten(grant_types=None, token_endpoint_auth_method=None,
                                       application_type=None))
    assert client["application_type"] == "web"
    assert client["token_endpoint_auth_method"] == "private_key_jwt"
    assert client["grant_types"] == [JWT_BEARER]
    assert client["scopes"] == ["skatteetaten:testscope"]
    assert client["redirect_uris"] == [] and "code_challenge_method" not in client


def test_krr_gets_default_scopes(http: httpx.Client) -> None:
    client = create(http, maskinporten(integration_type="krr", scopes=None))
    assert set(client["scopes"]) == {"krr:global/kontaktinformasjon.read",
                                     "krr:global/digitalpost.read"}


def test_explicit_values_are_kept(http: httpx.Client) -> None:
    client = create(http, idporten(access_token_lifetime=300, refresh_token_usage="REUSE",
                                   sso_disabled=True, scopes=["openid", "profile", "eidas"]))
    assert client["access_token_lifetime"] == 300
    assert client["refresh_token_usage"] == "REUSE"
    assert client["sso_disabled"] is True
    assert set(client["scopes"]) == {"openid", "profile", "eidas"}


def test_get_list_and_inactive_flag(http: httpx.Client) -> None:
    first = create(http, idporten())
    second = create(http, maskinporten())
    listed = http.get(f"{API}/clients").json()
    assert [c["client_id"] for c in listed] == [first["client_id"], second["client_id"]]
    got = http.get(f"{API}/clients/{first['client_id']}")
    assert got.status_code == 200 and got.json() == listed[0]
    assert http.delete(f"{API}/clients/{first['client_id']}").status_code == 200
    assert [c["client_id"] for c in http.get(f"{API}/clients").json()] == [second["client_id"]]
    everything = http.get(f"{API}/clients", params={"inactive": "true"}).json()
    assert {c["client_id"]: c["active"] for c in everything} == {
        first["client_id"]: False, second["client_id"]: True}
    assert http.get(f"{API}/clients/{first['client_id']}").status_code == 404
    inactive = http.get(f"{API}/clients/{first['client_id']}", params={"inactive": "true"})
    assert inactive.status_code == 200 and inactive.json()["active"] is False


def test_put_replaces_and_updates_last_updated(http: httpx.Client, clock: FakeClock) -> None:
    client = create(http, idporten(sso_disabled=True))
    clock.advance(61.5)
    body = idporten(client_name="Nytt navn")
    updated = http.put(f"{API}/clients/{client['client_id']}", json=body)
    assert updated.status_code == 200
    result = updated.json()
    assert result["client_name"] == "Nytt navn"
    assert result["sso_disabled"] is False, "PUT is a full replace: omitted means default"
    assert result["created"] == client["created"]
    assert result["last_updated"] == "2023-11-14T23:14:21.500+01:00"


def test_every_write_changes_last_updated_even_with_a_frozen_clock(http: httpx.Client) -> None:
    client = create(http, idporten())
    path = f"{API}/clients/{client['client_id']}"
    stamps = [client["last_updated"]]
    for _ in range(3):
        stamps.append(http.put(path, json=idporten()).json()["last_updated"])
    stamps.append(http.delete(path).json()["last_updated"])
    assert len(set(stamps)) == len(stamps)
    assert stamps == sorted(stamps)


def test_read_only_fields_are_ignored(http: httpx.Client) -> None:
    client = create(http, idporten())
    body = {**idporten(), "client_id": "something-else", "created": "x", "active": False,
            "client_orgno": ORG, "last_updated": "y", "jwks_uri": "z", "client_secret": "s"}
    updated = http.put(f"{API}/clients/{client['client_id']}", json=body).json()
    assert updated["client_id"] == client["client_id"]
    assert updated["active"] is True and updated["created"] == client["created"]
    assert "client_secret" not in updated


def test_unknown_fields_are_kept_and_returned(http: httpx.Client) -> None:
    # Digdir adds fields over time and has accepted ones it does not use (the Postman
    # collection felleslosninger/eid-postman-test-collections posts client_type, force_pkce,
    # token_reference and default_scopes and expects 201).
    response = http.post(f"{API}/clients", json=idporten(colour="blue", force_pkce=False))
    assert response.status_code == 201
    assert response.json()["colour"] == "blue" and response.json()["force_pkce"] is False


def test_integration_type_cannot_change(http: httpx.Client) -> None:
    client = create(http, idporten())
    response = http.put(f"{API}/clients/{client['client_id']}",
                        json=idporten(integration_type="ansattporten"))
    assert response.status_code == 400
    assert field_errors(response) == {"integration_type"}
    same = http.put(f"{API}/clients/{client['client_id']}", json=idporten(integration_type=None))
    assert same.status_code == 200 and same.json()["integration_type"] == "idporten"


@pytest.mark.parametrize("value", [0, -1])
@pytest.mark.parametrize("name", ["authorization_lifetime", "access_token_lifetime",
                                  "refresh_token_lifetime"])
def test_non_positive_lifetimes_are_rejected(http: httpx.Client, name: str, value: int) -> None:
    response = http.post(f"{API}/clients", json=idporten(**{name: value}))
    assert response.status_code == 400
    assert field_errors(response) == {name}


def test_error_body_has_digdirs_shape(http: httpx.Client) -> None:
    response = http.post(f"{API}/clients", json=idporten(redirect_uris=[]))
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"status", "timestamp", "correlation_id", "errors", "error",
                         "error_description"}
    assert body["status"] == 400 and body["error"] == "invalid_client_metadata"
    assert uuid.UUID(body["correlation_id"])
    assert TIMESTAMP.match(body["timestamp"])
    assert body["errors"] == [{"errorMessage": "idporten clients need at least one",
                               "isFieldError": True, "objectName": "Client",
                               "fieldIdentifier": "redirect_uris"}]
    assert "redirect_uris" in body["error_description"]


def test_all_problems_are_reported_at_once(http: httpx.Client) -> None:
    response = http.post(f"{API}/clients", json=idporten(
        access_token_lifetime=0, grant_types=["implicit"], redirect_uris=[], client_name=""))
    assert response.status_code == 400
    assert field_errors(response) == {"access_token_lifetime", "grant_types", "redirect_uris",
                                      "client_name"}


def test_deactivated_client_refuses_every_write(http: httpx.Client) -> None:
    client = create(http, idporten(token_endpoint_auth_method="client_secret_basic"))
    path = f"{API}/clients/{client['client_id']}"
    assert http.delete(path).status_code == 200
    jwks = {"keys": [{"kty": "RSA"}]}
    merchant: dict[str, Any] = {"notification_emails": [], "invoice": None}
    writes = [
        http.put(path, json=idporten()),
        http.delete(path),
        http.post(f"{path}/secret"),
        http.post(f"{path}/jwks", json=jwks),
        http.put(f"{path}/jwks", json=jwks),
        http.delete(f"{path}/jwks"),
        http.put(f"{API}/x-emulator/clients/{client['client_id']}/merchant", json=merchant),
    ]
    assert [w.status_code for w in writes] == [409] * len(writes)
    assert all(w.json()["error"] == "conflict" for w in writes)


def test_post_recreating_a_deactivated_client_is_a_conflict(http: httpx.Client) -> None:
    client = create(http, idporten())
    http.delete(f"{API}/clients/{client['client_id']}")
    again = http.post(f"{API}/clients", json={**idporten(), "client_id": client["client_id"]})
    assert again.status_code == 409
    assert field_errors(again) == {"client_id"}
    live = create(http, idporten())
    duplicate = http.post(f"{API}/clients", json={**idporten(), "client_id": live["client_id"]})
    assert duplicate.status_code == 409


def test_unknown_client_id_in_post_body_is_ignored(http: httpx.Client) -> None:
    client = create(http, {**idporten(), "client_id": "my-own-id"})
    assert client["client_id"] != "my-own-id"


def test_unknown_client_and_path_and_method(http: httpx.Client) -> None:
    missing = http.get(f"{API}/clients/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["status"] == 404
    assert http.get(f"{API}/nothing").status_code == 404
    not_allowed = http.patch(f"{API}/clients")
    assert not_allowed.status_code == 405
    assert set(not_allowed.headers["Allow"].split(", ")) == {"GET", "POST"}


def test_body_must_be_json(http: httpx.Client) -> None:
    wrong_type = http.post(f"{API}/clients", content=b"{}",
                           headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    broken = http.post(f"{API}/clients", content=b"{nope",
                       headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"] == "invalid_request"
    not_object = http.post(f"{API}/clients", json=["a"])
    assert not_object.status_code == 400
    huge = http.post(f"{API}/clients", json=idporten(description="x" * (1 << 20)))
    assert huge.status_code == 413 and huge.json()["status"] == 413


def test_shuffle_returns_lists_in_another_order(make_emulator: Any) -> None:
    emu: Emulator = make_emulator(shuffle_lists=True, seed=3)
    uris = [f"https://tjeneste.example.no/cb{i}" for i in range(4)]
    scopes = ["openid", "profile", "eidas", "no_pid"]
    with client_for(emu) as http:
        client = create(http, idporten(redirect_uris=uris, scopes=scopes))
        for name, written in [("redirect_uris", uris), ("scopes", scopes),
                              ("grant_types", ["authorization_code", "refresh_token"])]:
            assert client[name] != written and sorted(client[name]) == sorted(written)
        again = http.get(f"{API}/clients/{client['client_id']}").json()
        assert again["redirect_uris"] == client["redirect_uris"], "stored order is stable"


def test_seed_makes_ids_repeatable(make_emulator: Any) -> None:
    ids = []
    for _ in range(2):
        with client_for(make_emulator(seed=11)) as http:
            ids.append(create(http, idporten())["client_id"])
    assert ids[0] == ids[1]


def test_list_fields_are_deduplicated(http: httpx.Client) -> None:
    uri = "https://tjeneste.example.no/callback"
    client = create(http, idporten(redirect_uris=[uri, uri]))
    assert client["redirect_uris"] == [uri]


def test_file_database_survives_a_restart(tmp_path: Path, make_emulator: Any) -> None:
    db = tmp_path / "nested" / "emu.db"
    with client_for(make_emulator(db=db)) as http:
        client = create(http, idporten())
        http.delete(f"{API}/clients/{client['client_id']}")
        kept = create(http, maskinporten())
    with client_for(make_emulator(db=db)) as http:
        listed = http.get(f"{API}/clients", params={"inactive": "true"}).json()
    assert [(c["client_id"], c["active"]) for c in listed] == [
        (client["client_id"], False), (kept["client_id"], True)]


def test_concurrent_creates_are_all_stored(emu: Emulator) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def make(i: int) -> int:
        with client_for(emu) as http:
            return http.post(f"{API}/clients", json=maskinporten(client_name=f"c{i}")).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(make, range(40)))
    assert statuses == [201] * 40
    with client_for(emu) as http:
        names = {c["client_name"] for c in http.get(f"{API}/clients").json()}
    assert names == {f"c{i}" for i in range(40)}


def test_bulk_merchant_listing_holds_active_clients_only() -> None:
    import httpx

    from selvsync.emulator import Emulator

    emu = Emulator()
    emu.add_token("t", "991825827")
    headers = {"Authorization": "Bearer t"}
    body = {"integration_type": "maskinporten", "client_name": "M", "description": "d",
            "token_endpoint_auth_method": "private_key_jwt", "scopes": ["a:b"],
            "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"]}
    with httpx.Client(transport=emu.transport(), base_url="http://e") as http:
        first = http.post("/api/v1/clients", json=body, headers=headers).json()["client_id"]
        second = http.post("/api/v1/clients", json=body, headers=headers).json()["client_id"]
        data = {"notification_emails": ["a@example.no"], "invoice": None}
        assert http.put(f"/api/v1/x-emulator/clients/{first}/merchant", json=data,
                        headers=headers).status_code == 200
        assert http.delete(f"/api/v1/clients/{second}", headers=headers).status_code == 200
        listing = http.get("/api/v1/x-emulator/merchant", headers=headers)
    assert listing.status_code == 200
    assert listing.json() == [{"client_id": first, **data}]
