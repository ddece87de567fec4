"""Bearer tokens, scopes, organisation scoping and suppliers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from selvsync.emulator import Emulator

from .conftest import client_for
from .helpers import API, ORG, OTHER_ORG, THIRD_ORG, create, field_errors, idporten, maskinporten

MERCHANT: dict[str, Any] = {"notification_emails": [], "invoice": None}


def test_missing_and_unknown_tokens_get_401(emu: Emulator) -> None:
    with client_for(emu, token=None) as anonymous:
        response = anonymous.get(f"{API}/clients")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    with client_for(emu, token="not-a-token") as stranger:
        assert stranger.get(f"{API}/clients").status_code == 401
    with client_for(emu) as basic:
        wrong_scheme = basic.get(f"{API}/clients", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert wrong_scheme.status_code == 401


def test_token_never_appears_in_error_bodies(emu: Emulator) -> None:
    with client_for(emu, token="very-secret-token-value") as stranger:
        response = stranger.get(f"{API}/clients")
    assert "very-secret-token-value" not in response.text


@pytest.mark.parametrize(("scopes", "method", "path_kind", "status"), [
    (["idporten:dcr.write"], "GET", "list", 403),
    (["idporten:dcr.read"], "GET", "list", 200),
    (["idporten:dcr.read"], "POST", "list", 403),
    (["idporten:dcr.modify"], "POST", "list", 403),
    (["idporten:dcr.write"], "POST", "list", 201),
    (["idporten:dcr.read"], "PUT", "one", 403),
    (["idporten:dcr.modify"], "PUT", "one", 200),
    (["idporten:dcr.write"], "PUT", "one", 200),
    (["idporten:dcr.read"], "DELETE", "one", 403),
    (["idporten:dcr.modify"], "DELETE", "one", 200),
    (["idporten:dcr.read"], "POST", "secret", 403),
    (["idporten:dcr.write"], "POST", "secret", 200),
    (["idporten:dcr.read"], "DELETE", "jwks", 403),
    (["idporten:dcr.modify"], "DELETE", "jwks", 200),
    (["idporten:dcr.read"], "PUT", "merchant", 403),
    (["idporten:dcr.modify"], "PUT", "merchant", 200),
    (["idporten:dcr.write"], "GET", "merchant", 403),
])
def test_scopes_per_operation(emu: Emulator, http: httpx.Client, scopes: list[str], method: str,
                              path_kind: str, status: int) -> None:
    client = create(http, idporten(token_endpoint_auth_method="client_secret_post"))
    emu.add_token("limited", ORG, scopes)
    paths = {
        "list": f"{API}/clients",
        "one": f"{API}/clients/{client['client_id']}",
        "secret": f"{API}/clients/{client['client_id']}/secret",
        "jwks": f"{API}/clients/{client['client_id']}/jwks",
        "merchant": f"{API}/x-emulator/clients/{client['client_id']}/merchant",
    }
    body = MERCHANT if path_kind == "merchant" else idporten()
    with client_for(emu, "limited") as limited:
        response = limited.request(method, paths[path_kind],
                                   json=body if method in ("POST", "PUT") else None)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"] == "insufficient_scope"


def test_organisations_only_see_their_own_clients(http: httpx.Client,
                                                  other: httpx.Client) -> None:
    mine = create(http, idporten())
    theirs = create(other, maskinporten())
    assert [c["client_id"] for c in http.get(f"{API}/clients").json()] == [mine["client_id"]]
    assert [c["client_id"] for c in other.get(f"{API}/clients").json()] == [theirs["client_id"]]
    path = f"{API}/clients/{theirs['client_id']}"
    responses = [
        http.get(path), http.get(path, params={"inactive": "true"}),
        http.put(path, json=maskinporten()), http.delete(path),
        http.get(f"{path}/jwks"), http.delete(f"{path}/jwks"),
        http.get(f"{API}/x-emulator/clients/{theirs['client_id']}/merchant"),
    ]
    assert [r.status_code for r in responses] == [403] * len(responses)
    assert other.get(path).json()["active"] is True, "nothing changed"


def test_supplier_creates_and_manages_for_another_org(emu: Emulator,
                                                      other: httpx.Client) -> None:
    emu.add_token("supplier", THIRD_ORG)
    with client_for(emu, "supplier") as supplier:
        client = create(supplier, {**maskinporten(), "client_orgno": OTHER_ORG})
        assert client["client_orgno"] == OTHER_ORG
        assert client["supplier_orgno"] == THIRD_ORG
        path = f"{API}/clients/{client['client_id']}"
        assert supplier.put(path, json=maskinporten(client_name="ny")).status_code == 200
        assert [c["client_id"] for c in supplier.get(f"{API}/clients").json()] == [
            client["client_id"]]
    owned = other.get(path)
    assert owned.status_code == 200 and owned.json()["client_name"] == "ny"


def test_creating_for_another_org_needs_the_supplier_scope(emu: Emulator) -> None:
    emu.add_token("plain", ORG, ["idporten:dcr.read", "idporten:dcr.write"])
    with client_for(emu, "plain") as plain:
        refused = plain.post(f"{API}/clients", json={**maskinporten(), "client_orgno": OTHER_ORG})
        own = plain.post(f"{API}/clients", json={**maskinporten(), "client_orgno": ORG})
    assert refused.status_code == 403
    assert own.status_code == 201 and "supplier_orgno" not in own.json()


def test_supplier_orgno_must_be_valid(http: httpx.Client) -> None:
    response = http.post(f"{API}/clients", json={**maskinporten(), "client_orgno": "123456789"})
    assert response.status_code == 400 and field_errors(response) == {"client_orgno"}
