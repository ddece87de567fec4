"""The merchant-data extension (not Digdir's API)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .helpers import API, create, field_errors, idporten

INVOICE = {"orgno": "991825827", "reference": "PO-123", "contact_email": "faktura@example.no",
           "peppol_address": "0192:991825827"}


@pytest.fixture
def path(http: httpx.Client) -> str:
    return f"{API}/x-emulator/clients/{create(http, idporten())['client_id']}/merchant"


def test_never_written_merchant_data_is_empty(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 200
    assert response.json() == {"notification_emails": [], "invoice": None}


def test_put_replaces_and_get_returns_it(http: httpx.Client, path: str) -> None:
    body = {"notification_emails": ["drift@example.no", "drift@example.no", "vakt@example.no"],
            "invoice": INVOICE}
    stored = http.put(path, json=body)
    assert stored.status_code == 200
    expected = {"notification_emails": ["drift@example.no", "vakt@example.no"],
                "invoice": INVOICE}
    assert stored.json() == expected and http.get(path).json() == expected
    partial = http.put(path, json={"invoice": {"orgno": "991825827"}}).json()
    assert partial == {"notification_emails": [], "invoice": {
        "orgno": "991825827", "reference": None, "contact_email": None, "peppol_address": None}}


@pytest.mark.parametrize(("body", "fields"), [
    ({"notification_emails": ["not-an-email"]}, {"notification_emails"}),
    ({"notification_emails": "a@b.no"}, {"notification_emails"}),
    ({"emails": []}, {"emails"}),
    ({"invoice": {"orgno": "123456789"}}, {"invoice.orgno"}),
    ({"invoice": {**INVOICE, "contact_email": "nope"}}, {"invoice.contact_email"}),
    ({"invoice": {**INVOICE, "peppol_address": "991825827"}}, {"invoice.peppol_address"}),
    ({"invoice": {**INVOICE, "iban": "x"}}, {"invoice.iban"}),
    ({"invoice": "yes"}, {"invoice"}),
])
def test_invalid_merchant_data_is_rejected(http: httpx.Client, path: str, body: dict[str, Any],
                                           fields: set[str]) -> None:
    response = http.put(path, json=body)
    assert response.status_code == 400
    assert field_errors(response) == fields
    assert http.get(path).json()["invoice"] is None


def test_unknown_client_is_404(http: httpx.Client) -> None:
    assert http.get(f"{API}/x-emulator/clients/nope/merchant").status_code == 404
