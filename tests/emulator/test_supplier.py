"""Suppliers (idporten:dcr.supplier) and access to another organisation's clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from selvsync.emulator import Emulator

from .conftest import client_for
from .helpers import API, ORG, OTHER_ORG, THIRD_ORG, create, field_errors, maskinporten

PLAIN = ["idporten:dcr.read", "idporten:dcr.write", "idporten:dcr.modify"]


@pytest.fixture
def supplier(emu: Emulator) -> Iterator[httpx.Client]:
    emu.add_token("supplier", THIRD_ORG)  # every scope, idporten:dcr.supplier included
    with client_for(emu, "supplier") as client:
        yield client


def test_client_orgno_in_a_body_needs_the_supplier_scope(emu: Emulator) -> None:
    emu.add_token("plain", ORG, PLAIN)
    with client_for(emu, "plain") as plain:
        refused = plain.post(f"{API}/clients", json={**maskinporten(), "client_orgno": OTHER_ORG})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["fieldIdentifier"] == "client_orgno"


def test_supplier_sets_client_orgno_and_becomes_supplier_orgno(supplier: httpx.Client) -> None:
    made = create(supplier, {**maskinporten(), "client_orgno": OTHER_ORG})
    assert (made["client_orgno"], made["supplier_orgno"]) == (OTHER_ORG, THIRD_ORG)
    own = create(supplier, maskinporten())
    assert own["client_orgno"] == THIRD_ORG and "supplier_orgno" not in own
    bad = supplier.post(f"{API}/clients", json={**maskinporten(), "client_orgno": "991825828"})
    assert bad.status_code == 400 and field_errors(bad) == {"client_orgno"}


def test_supplier_listing_holds_its_own_and_its_customers_clients(
        emu: Emulator, supplier: httpx.Client, other: httpx.Client) -> None:
    made = create(supplier, {**maskinporten(), "client_orgno": OTHER_ORG})
    own = create(supplier, maskinporten())
    customer_own = create(other, maskinporten())
    assert [c["client_id"] for c in supplier.get(f"{API}/clients").json()] == [
        made["client_id"], own["client_id"]]
    assert [c["client_id"] for c in other.get(f"{API}/clients").json()] == [
        made["client_id"], customer_own["client_id"]]
    emu.add_token("supplier-plain", THIRD_ORG, PLAIN)
    with client_for(emu, "supplier-plain") as plain:
        assert [c["client_id"] for c in plain.get(f"{API}/clients").json()] == [
            own["client_id"]]
        assert plain.get(f"{API}/clients/{made['client_id']}").status_code == 403


def test_foreign_clients_answer_403_for_every_operation(http: httpx.Client,
                                                        other: httpx.Client) -> None:
    theirs = create(other, maskinporten(token_endpoint_auth_method="private_key_jwt"))
    path = f"{API}/clients/{theirs['client_id']}"
    responses = [http.get(path), http.put(path, json=maskinporten()), http.delete(path),
                 http.get(f"{path}/jwks"), http.post(f"{path}/jwks", json={"keys": []}),
                 http.put(f"{path}/jwks", json={"keys": []}), http.delete(f"{path}/jwks"),
                 http.post(f"{path}/secret")]
    assert [r.status_code for r in responses] == [403] * len(responses)
    body = responses[0].json()
    assert body["error"] == "access_denied" and "another organization" in body[
        "error_description"]
    assert http.get(f"{API}/clients/does-not-exist").status_code == 404


def test_supplier_manages_the_clients_it_made(supplier: httpx.Client,
                                              other: httpx.Client) -> None:
    made = create(supplier, {**maskinporten(), "client_orgno": OTHER_ORG})
    path = f"{API}/clients/{made['client_id']}"
    assert supplier.put(path, json=maskinporten(client_name="ny")).status_code == 200
    assert other.get(path).json()["client_name"] == "ny"
    assert supplier.delete(path).status_code == 200


def test_foreign_clients_can_answer_404_instead(make_emulator: Any) -> None:
    emu = make_emulator(foreign_client_status=404)
    with client_for(emu) as http, client_for(emu, "other") as other:
        theirs = create(other, maskinporten())
        response = http.get(f"{API}/clients/{theirs['client_id']}")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
