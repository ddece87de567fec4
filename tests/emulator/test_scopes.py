"""The scopes API for Maskinporten API providers: prefixes, scopes, access, the catalogue."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from selvsync.emulator import FULL_SCOPES, Emulator
from selvsync.emulator.server import serve

from .conftest import client_for
from .helpers import API, ORG, OTHER_ORG, THIRD_ORG, FakeClock, field_errors

UTC_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SCOPE = "skatt:demo.read"


def scope_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"prefix": "skatt", "subscope": "demo.read",
                            "description": "Demo-API for tester"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def provider(emu: Emulator) -> Emulator:
    emu.add_prefix(ORG, "skatt")
    emu.add_organization(ORG, "Skatteetaten")
    emu.add_organization(OTHER_ORG, "Konsument AS")
    return emu


def create_scope(http: httpx.Client, **overrides: Any) -> dict[str, Any]:
    response = http.post(f"{API}/scopes", json=scope_body(**overrides))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def assert_none(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert "does not have any" in response.json()["error_description"]


def test_full_scopes_include_the_scope_admin_scopes() -> None:
    assert {"idporten:scopes.read", "idporten:scopes.write"} <= set(FULL_SCOPES)


@pytest.mark.parametrize(("scopes", "method", "status"), [
    (["idporten:scopes.read"], "GET", 200),
    (["idporten:scopes.write"], "GET", 200),
    (["idporten:dcr.read", "idporten:dcr.write"], "GET", 403),
    (["idporten:scopes.read"], "POST", 403),
    (["idporten:scopes.write"], "POST", 201),
    (["idporten:scopes.read"], "PUT", 403),
    (["idporten:scopes.read"], "DELETE", 403),
])
def test_admin_scopes_per_operation(provider: Emulator, http: httpx.Client, scopes: list[str],
                                    method: str, status: int) -> None:
    if method != "POST":
        create_scope(http)
    provider.add_token("limited", ORG, scopes)
    with client_for(provider, "limited") as limited:
        response = limited.request(
            method, f"{API}/scopes", params={"scope": SCOPE} if method != "POST" else None,
            json=scope_body() if method in ("POST", "PUT") else None)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"] == "insufficient_scope"


def test_prefixes_are_granted_by_the_emulator(emu: Emulator, http: httpx.Client) -> None:
    assert_none(http.get(f"{API}/prefix"))
    emu.add_prefix(ORG, "skatt")
    emu.add_prefix(ORG, "altinn")
    emu.add_prefix(OTHER_ORG, "nav")
    assert http.get(f"{API}/prefix").json() == [
        {"prefix": "altinn", "owner_orgno": ORG}, {"prefix": "skatt", "owner_orgno": ORG}]
    with pytest.raises(ValueError, match="already belongs"):
        emu.add_prefix(OTHER_ORG, "skatt")
    with pytest.raises(ValueError):
        emu.add_prefix(ORG, "Store Bokstaver")


def test_create_fills_server_fields_and_defaults(provider: Emulator,
                                                 http: httpx.Client) -> None:
    scope = create_scope(http)
    assert scope["name"] == SCOPE and scope["owner_orgno"] == ORG and scope["active"] is True
    assert UTC_STAMP.match(scope["created"]) and scope["created"] == scope["last_updated"]
    assert scope["created"] == "2023-11-14T22:13:20.000Z"
    assert {k: scope[k] for k in ("allowed_integration_types", "visibility", "token_type",
                                  "at_max_age", "authorization_max_lifetime")} == {
        "allowed_integration_types": ["maskinporten"], "visibility": "PUBLIC",
        "token_type": "SELF_CONTAINED", "at_max_age": 0, "authorization_max_lifetime": 0}
    assert not any(scope[k] for k in ("accessible_for_all", "requires_user_consent",
                                      "requires_user_authentication", "protected",
                                      "requires_pseudonymous_tokens",
                                      "supports_european_businesses"))
    assert "long_description" not in scope and "delegation_source" not in scope


def test_every_field_is_stored_and_returned(provider: Emulator, http: httpx.Client) -> None:
    fields = {
        "long_description": "Lang tekst", "description#en": "Demo API",
        "description#nn": "Demo-API", "long_description#en": "Long text",
        "long_description#nn": "Lang tekst", "allowed_integration_types": [
            "maskinporten", "api_klient"], "visibility": "PRIVATE", "token_type": "OPAQUE",
        "at_max_age": 300, "authorization_max_lifetime": 600, "accessible_for_all": True,
        "delegation_source": "https://www.altinn.no/", "requires_user_consent": True,
        "requires_user_authentication": True, "requires_pseudonymous_tokens": True,
        "protected": True, "supports_european_businesses": True,
        "enforced_aud_for_access_token": "https://api.example.no/",
    }
    created = create_scope(http, **fields)
    read = http.get(f"{API}/scopes", params={"scope": SCOPE}).json()
    assert read == created
    assert {k: read[k] for k in fields} == fields


@pytest.mark.parametrize(("overrides", "field"), [
    ({"prefix": "nav"}, "prefix"),
    ({"subscope": "Demo"}, "subscope"),
    ({"subscope": "demo//read"}, "subscope"),
    ({"description": " "}, "description"),
    ({"visibility": "SECRET"}, "visibility"),
    ({"token_type": "JWT"}, "token_type"),
    ({"at_max_age": -1}, "at_max_age"),
    ({"allowed_integration_types": ["fax"]}, "allowed_integration_types"),
    ({"delegation_source": "https://example.no/"}, "delegation_source"),
    ({"colour": "blue"}, "colour"),
])
def test_create_refuses_bad_bodies(provider: Emulator, http: httpx.Client,
                                   overrides: dict[str, Any], field: str) -> None:
    response = http.post(f"{API}/scopes", json=scope_body(**overrides))
    assert response.status_code == 400, response.text
    assert field in field_errors(response)


def test_create_needs_a_prefix_the_organisation_owns(provider: Emulator) -> None:
    provider.add_prefix(OTHER_ORG, "nav")
    with client_for(provider, "other") as other:
        response = other.post(f"{API}/scopes", json=scope_body())
    assert response.status_code == 400 and field_errors(response) == {"prefix"}


def test_recreating_an_existing_or_deactivated_scope_is_409(provider: Emulator,
                                                             http: httpx.Client) -> None:
    create_scope(http)
    assert http.post(f"{API}/scopes", json=scope_body()).status_code == 409
    assert http.delete(f"{API}/scopes", params={"scope": SCOPE}).status_code == 200
    assert http.post(f"{API}/scopes", json=scope_body()).status_code == 409


def test_list_read_one_and_the_inactive_flag(provider: Emulator, http: httpx.Client) -> None:
    assert_none(http.get(f"{API}/scopes"))
    first = create_scope(http)
    second = create_scope(http, subscope="demo.write")
    assert http.get(f"{API}/scopes").json() == [first, second]
    assert http.get(f"{API}/scopes/scope", params={"scope": SCOPE}).json() == first
    deleted = http.delete(f"{API}/scopes", params={"scope": SCOPE})
    assert deleted.status_code == 200 and deleted.json()["active"] is False
    assert [s["name"] for s in http.get(f"{API}/scopes").json()] == ["skatt:demo.write"]
    everything = http.get(f"{API}/scopes", params={"inactive": "true"}).json()
    assert [s["active"] for s in everything] == [False, True]
    assert http.get(f"{API}/scopes", params={"scope": SCOPE}).status_code == 404
    inactive = http.get(f"{API}/scopes", params={"scope": SCOPE, "inactive": "true"})
    assert inactive.status_code == 200 and inactive.json()["active"] is False
    assert http.delete(f"{API}/scopes", params={"scope": SCOPE}).status_code == 409


def test_other_organisations_scopes_and_unknown_names_are_404(provider: Emulator,
                                                               http: httpx.Client,
                                                               other: httpx.Client) -> None:
    create_scope(http)
    assert http.get(f"{API}/scopes/scope", params={"scope": "skatt:nope"}).status_code == 404
    for response in (other.get(f"{API}/scopes", params={"scope": SCOPE}),
                     other.get(f"{API}/scopes/scope", params={"scope": SCOPE}),
                     other.put(f"{API}/scopes", params={"scope": SCOPE}, json=scope_body()),
                     other.delete(f"{API}/scopes", params={"scope": SCOPE})):
        assert response.status_code == 404, response.text
    assert http.get(f"{API}/scopes/scope").status_code == 400  # scope= is required


def test_put_is_a_full_replace_and_the_name_cannot_change(provider: Emulator,
                                                          http: httpx.Client,
                                                          clock: FakeClock) -> None:
    created = create_scope(http, long_description="Lang", at_max_age=300)
    clock.advance(5)
    path, params = f"{API}/scopes", {"scope": SCOPE}
    updated = http.put(path, params=params, json={"description": "Ny tekst",
                                                  "visibility": "PRIVATE"})
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["description"] == "Ny tekst" and body["visibility"] == "PRIVATE"
    assert "long_description" not in body and body["at_max_age"] == 0
    assert body["created"] == created["created"] and body["last_updated"] > created["created"]
    for change in ({"subscope": "other"}, {"prefix": "nav"}, {"name": "skatt:other"}):
        refused = http.put(path, params=params, json=scope_body(**change))
        assert refused.status_code == 400, change
    same = http.put(path, params=params, json={**created, "description": "Igjen"})
    assert same.status_code == 200, same.text


def test_put_with_active_true_reactivates(provider: Emulator, http: httpx.Client) -> None:
    create_scope(http)
    path, params = f"{API}/scopes", {"scope": SCOPE}
    http.delete(path, params=params)
    assert http.put(path, params=params, json=scope_body()).status_code == 409
    revived = http.put(path, params=params, json=scope_body(active=True))
    assert revived.status_code == 200 and revived.json()["active"] is True
    assert [s["name"] for s in http.get(path).json()] == [SCOPE]


def test_granting_listing_and_revoking_access(provider: Emulator, http: httpx.Client,
                                              clock: FakeClock) -> None:
    create_scope(http)
    access = f"{API}/scopes/access"
    assert_none(http.get(access, params={"scope": SCOPE}))
    granted = http.put(f"{access}/{OTHER_ORG}", params={"scope": SCOPE})
    assert granted.status_code == 200, granted.text
    entry = granted.json()
    assert {k: v for k, v in entry.items() if k not in ("created", "last_updated")} == {
        "scope": SCOPE, "owner_orgno": ORG, "owner_organization_name": "Skatteetaten",
        "consumer_orgno": OTHER_ORG, "consumer_organization_name": "Konsument AS",
        "state": "APPROVED"}
    assert UTC_STAMP.match(entry["created"])
    clock.advance(1)
    again = http.put(f"{access}/{OTHER_ORG}", params={"scope": SCOPE}).json()
    assert again == entry, "granting twice changes nothing"
    http.put(f"{access}/{THIRD_ORG}", params={"scope": SCOPE})
    listed = http.get(access, params={"scope": SCOPE}).json()
    assert [(e["consumer_orgno"], e["consumer_organization_name"]) for e in listed] == [
        (OTHER_ORG, "Konsument AS"), (THIRD_ORG, None)]
    revoked = http.delete(f"{access}/{OTHER_ORG}", params={"scope": SCOPE})
    assert revoked.status_code == 200 and revoked.json()["consumer_orgno"] == OTHER_ORG
    assert [e["consumer_orgno"] for e in http.get(access, params={"scope": SCOPE}).json()] == [
        THIRD_ORG]
    assert http.delete(f"{access}/{OTHER_ORG}", params={"scope": SCOPE}).status_code == 404


def test_access_refuses_bad_orgnos_and_foreign_scopes(provider: Emulator, http: httpx.Client,
                                                      other: httpx.Client) -> None:
    create_scope(http)
    bad = http.put(f"{API}/scopes/access/123456789", params={"scope": SCOPE})
    assert bad.status_code == 400 and field_errors(bad) == {"consumer_orgno"}
    assert http.put(f"{API}/scopes/access/12345", params={"scope": SCOPE}).status_code == 400
    assert other.put(f"{API}/scopes/access/{OTHER_ORG}",
                     params={"scope": SCOPE}).status_code == 404
    assert other.get(f"{API}/scopes/access", params={"scope": SCOPE}).status_code == 404
    http.delete(f"{API}/scopes", params={"scope": SCOPE})
    assert http.put(f"{API}/scopes/access/{OTHER_ORG}",
                    params={"scope": SCOPE}).status_code == 409


def test_requested_and_denied_entries_from_the_emulator(provider: Emulator,
                                                        http: httpx.Client) -> None:
    create_scope(http)
    assert provider.request_access(SCOPE, OTHER_ORG)["state"] == "REQUESTED"
    assert provider.deny_access(SCOPE, THIRD_ORG)["state"] == "DENIED"
    states = {e["consumer_orgno"]: e["state"]
              for e in http.get(f"{API}/scopes/access", params={"scope": SCOPE}).json()}
    assert states == {OTHER_ORG: "REQUESTED", THIRD_ORG: "DENIED"}
    approved = http.put(f"{API}/scopes/access/{OTHER_ORG}", params={"scope": SCOPE}).json()
    assert approved["state"] == "APPROVED"
    with pytest.raises(ValueError):
        provider.request_access("skatt:nope", OTHER_ORG)
    with pytest.raises(ValueError):
        provider.deny_access(SCOPE, "123456789")


def test_consumer_side_access_listing(provider: Emulator, http: httpx.Client,
                                      other: httpx.Client) -> None:
    assert_none(other.get(f"{API}/scopes/access/all"))
    create_scope(http)
    create_scope(http, subscope="login", allowed_integration_types=["api_klient"])
    create_scope(http, subscope="asked")
    http.put(f"{API}/scopes/access/{OTHER_ORG}", params={"scope": SCOPE})
    http.put(f"{API}/scopes/access/{OTHER_ORG}", params={"scope": "skatt:login"})
    provider.request_access("skatt:asked", OTHER_ORG)
    listed = other.get(f"{API}/scopes/access/all").json()
    assert [(e["scope"], e["state"]) for e in listed] == [
        (SCOPE, "APPROVED"), ("skatt:login", "APPROVED"), ("skatt:asked", "REQUESTED")]
    machine = other.get(f"{API}/scopes/access/all", params={"integration_type": "maskinporten"})
    assert [e["scope"] for e in machine.json()] == [SCOPE, "skatt:asked"]
    http.delete(f"{API}/scopes", params={"scope": SCOPE})
    assert SCOPE not in [e["scope"] for e in other.get(f"{API}/scopes/access/all").json()]
    with_inactive = other.get(f"{API}/scopes/access/all", params={"inactive": "true"}).json()
    assert SCOPE in [e["scope"] for e in with_inactive]


def test_consumer_listing_can_hold_only_approved_entries(make_emulator: Any) -> None:
    emu = make_emulator(consumer_access_approved_only=True)
    emu.add_prefix(ORG, "skatt")
    with client_for(emu) as http, client_for(emu, "other") as other:
        create_scope(http)
        emu.request_access(SCOPE, OTHER_ORG)
        assert_none(other.get(f"{API}/scopes/access/all"))
        http.put(f"{API}/scopes/access/{OTHER_ORG}", params={"scope": SCOPE})
        assert [e["state"] for e in other.get(f"{API}/scopes/access/all").json()] == [
            "APPROVED"]


def test_empty_listings_can_be_plain_empty_arrays(make_emulator: Any) -> None:
    emu = make_emulator(empty_list_status=None)
    emu.add_prefix(OTHER_ORG, "nav")
    with client_for(emu) as http, client_for(emu, "other") as other:
        assert http.get(f"{API}/prefix").json() == []
        assert http.get(f"{API}/scopes").json() == []
        assert http.get(f"{API}/scopes/access/all").json() == []
        create_scope(other, prefix="nav")
        assert other.get(f"{API}/scopes/access", params={"scope": SCOPE.replace(
            "skatt", "nav")}).json() == []


def test_the_empty_answer_status_is_configurable(make_emulator: Any) -> None:
    emu = make_emulator(empty_list_status=400)
    with client_for(emu) as http:
        response = http.get(f"{API}/scopes")
    assert response.status_code == 400
    assert "does not have any" in response.json()["error_description"]


def test_scope_query_can_answer_a_list(make_emulator: Any) -> None:
    emu = make_emulator(scope_query_list=True)
    emu.add_prefix(ORG, "skatt")
    with client_for(emu) as http:
        created = create_scope(http)
        assert http.get(f"{API}/scopes", params={"scope": SCOPE}).json() == [created]
        assert_none(http.get(f"{API}/scopes", params={"scope": "skatt:nope"}))
        assert http.get(f"{API}/scopes/scope", params={"scope": SCOPE}).json() == created


def test_public_catalogue_needs_no_token_and_filters(provider: Emulator,
                                                     http: httpx.Client) -> None:
    create_scope(http)
    create_scope(http, subscope="open", accessible_for_all=True)
    create_scope(http, subscope="hidden", visibility="PRIVATE")
    create_scope(http, subscope="login", allowed_integration_types=["api_klient"],
                 delegation_source="https://www.altinn.no/")
    http.delete(f"{API}/scopes", params={"scope": "skatt:open"})
    with client_for(provider, token=None) as anonymous:
        def names(**params: str) -> list[str]:
            response = anonymous.get(f"{API}/scopes/all", params=params)
            assert response.status_code == 200, response.text
            return [s["name"] for s in response.json()]

        assert names() == [SCOPE, "skatt:login"]
        assert names(inactive="true") == [SCOPE, "skatt:open", "skatt:login"]
        assert names(accessible_for_all="true", inactive="true") == ["skatt:open"]
        assert names(integration_type="API_KLIENT") == ["skatt:login"]
        assert names(delegated_sources="true") == ["skatt:login"]


def test_delegation_sources(provider: Emulator, http: httpx.Client) -> None:
    sources = http.get(f"{API}/delegationsources").json()
    assert {"name": "Altinn", "issuer": "https://www.altinn.no/"} in sources


def test_control_surface_grants_prefixes_names_and_requests(provider: Emulator,
                                                           http: httpx.Client) -> None:
    created = http.post("/_emulator/prefixes", json={"orgno": ORG, "prefix": "ekstra"})
    assert created.status_code == 201
    assert "ekstra" in [p["prefix"] for p in http.get(f"{API}/prefix").json()]
    assert http.post("/_emulator/organizations",
                     json={"orgno": THIRD_ORG, "name": "Tredje AS"}).status_code == 201
    create_scope(http)
    requested = http.post("/_emulator/access", json={"scope": SCOPE, "consumer_orgno": THIRD_ORG})
    assert requested.status_code == 201
    assert requested.json()["state"] == "REQUESTED"
    assert requested.json()["consumer_organization_name"] == "Tredje AS"
    denied = http.post("/_emulator/access",
                       json={"scope": SCOPE, "consumer_orgno": THIRD_ORG, "state": "DENIED"})
    assert denied.json()["state"] == "DENIED"
    assert http.post("/_emulator/prefixes", json={"orgno": "1"}).status_code == 400
    assert http.post("/_emulator/access", json={"scope": "x:y", "consumer_orgno": ORG,
                                                "state": "MAYBE"}).status_code == 400
    assert http.get("/_emulator/prefixes").status_code == 405


def test_counters_and_faults_cover_scope_routes(provider: Emulator, http: httpx.Client) -> None:
    create_scope(http)
    http.get(f"{API}/scopes", params={"scope": SCOPE})
    http.put(f"{API}/scopes/access/{OTHER_ORG}", params={"scope": SCOPE})
    http.get(f"{API}/scopes/access/all")
    counters = provider.counters()
    assert counters["POST /scopes"] == 1 and counters["GET /scopes"] == 1
    assert counters["PUT /scopes/access/{consumer_orgno}"] == 1
    assert counters["GET /scopes/access/all"] == 1
    provider.faults.add("status", method="PUT", path=f"{API}/scopes/access/*", status=503,
                        times=1)
    assert http.put(f"{API}/scopes/access/{THIRD_ORG}",
                    params={"scope": SCOPE}).status_code == 503
    assert http.put(f"{API}/scopes/access/{THIRD_ORG}",
                    params={"scope": SCOPE}).status_code == 200
    provider.faults.add("commit_status", method="POST", path=f"{API}/scopes", times=1)
    assert http.post(f"{API}/scopes", json=scope_body(subscope="x")).status_code == 502
    assert http.get(f"{API}/scopes/scope", params={"scope": "skatt:x"}).status_code == 200


def test_save_keeps_prefixes_scopes_access_and_names(provider: Emulator, http: httpx.Client,
                                                     tmp_path: Path) -> None:
    create_scope(http)
    http.put(f"{API}/scopes/access/{OTHER_ORG}", params={"scope": SCOPE})
    provider.request_access(SCOPE, THIRD_ORG)
    saved = tmp_path / "state.sqlite"
    provider.save(saved)
    copy = Emulator(saved)
    try:
        copy.add_token("full", ORG)
        with client_for(copy) as again:
            assert [p["prefix"] for p in again.get(f"{API}/prefix").json()] == ["skatt"]
            assert again.get(f"{API}/scopes/scope", params={"scope": SCOPE}).status_code == 200
            entries = again.get(f"{API}/scopes/access", params={"scope": SCOPE}).json()
            assert [(e["consumer_organization_name"], e["state"]) for e in entries] == [
                ("Konsument AS", "APPROVED"), (None, "REQUESTED")]
    finally:
        copy.close()


@pytest.fixture
def served(provider: Emulator) -> Iterator[str]:
    with serve(provider) as running:
        yield running.url


def test_scopes_over_a_loopback_socket(provider: Emulator, served: str) -> None:
    with httpx.Client(base_url=served, headers={"Authorization": "Bearer full"}) as http:
        assert_none(http.get(f"{API}/scopes"))
        created = http.post(f"{API}/scopes", json=scope_body(subscope="api/v1:data"))
        assert created.status_code == 201, created.text
        name = created.json()["name"]
        assert name == "skatt:api/v1:data"
        assert http.get(f"{API}/scopes", params={"scope": name}).json()["name"] == name
        assert http.put(f"{API}/scopes/access/{OTHER_ORG}",
                        params={"scope": name}).json()["state"] == "APPROVED"
        assert http.get(f"{API}/scopes/all").json()[0]["name"] == name
