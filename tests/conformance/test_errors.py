"""digdir-api.md, Errors, and fidelity item 5: every error body shape Digdir has used."""

from __future__ import annotations

import ssl

import httpx

from .conftest import Digdir, MakeDigdir, idporten, maskinporten

TWO_PROBLEMS = idporten(redirect_uris=[], access_token_lifetime=0)


def test_a_400_has_digdirs_json_shape(digdir: Digdir) -> None:
    response = digdir.api.post("/clients", json=TWO_PROBLEMS)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "timestamp", "correlation_id", "errors", "error",
                         "error_description"}
    assert body["status"] == 400 and body["error"] == "invalid_client_metadata"
    assert body["correlation_id"]
    fields = [e["fieldIdentifier"] for e in body["errors"]]
    assert set(fields) == {"redirect_uris", "access_token_lifetime"}
    assert all(e["isFieldError"] is True and e["objectName"] == "Client" and e["errorMessage"]
               for e in body["errors"])
    # error_description joins every message.
    assert all(e["errorMessage"] in body["error_description"] for e in body["errors"])


def test_the_2025_shape_carries_the_joined_messages_in_error_too(digdir: Digdir) -> None:
    digdir.emu.faults.add("error_shape", shape="messages", method="POST", times=1)
    body = digdir.api.post("/clients", json=TWO_PROBLEMS).json()
    assert body["error"] == body["error_description"]
    assert "redirect_uris" in body["error"] and "access_token_lifetime" in body["error"]
    assert body["errors"] and body["correlation_id"] and body["status"] == 400
    again = digdir.api.post("/clients", json=TWO_PROBLEMS).json()
    assert again["error"] == "invalid_client_metadata"


def test_the_legacy_shape_is_plain_text(digdir: Digdir) -> None:
    digdir.emu.faults.add("error_shape", shape="plain", path="*/clients")
    response = digdir.api.post("/clients", json=TWO_PROBLEMS)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert "redirect_uris" in response.text and not response.text.startswith("{")
    assert digdir.api.post("/clients", json=maskinporten()).status_code == 201


def test_the_error_shape_can_be_chosen_for_the_whole_emulator(make_digdir: MakeDigdir) -> None:
    digdir = make_digdir(error_shape="messages")
    body = digdir.api.get("/clients/missing").json()
    assert body["status"] == 404 and body["error"] == body["error_description"]
    plain = make_digdir(error_shape="plain")
    response = plain.api.post("/clients", json=TWO_PROBLEMS)
    assert response.status_code == 400 and response.headers["content-type"].startswith(
        "text/plain")


def test_401_for_a_missing_or_bad_token(digdir: Digdir, tls: ssl.SSLContext) -> None:
    with httpx.Client(base_url=digdir.api.base_url, verify=tls) as anonymous:
        assert anonymous.get("/clients").status_code == 401
        bad = anonymous.get("/clients", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["correlation_id"]


def test_403_for_a_missing_scope(digdir: Digdir) -> None:
    digdir.emu.add_token("reader", "991825827", ["idporten:dcr.read"])
    response = digdir.api.post("/clients", json=maskinporten(),
                               headers={"Authorization": "Bearer reader"})
    assert response.status_code == 403


def test_428_terms_not_signed_and_5xx_keep_the_shape(digdir: Digdir) -> None:
    digdir.emu.faults.add("status", status=428, times=1)
    digdir.emu.faults.add("status", status=503, times=1, retry_after=2)
    terms = digdir.api.get("/clients")
    assert terms.status_code == 428 and terms.json()["status"] == 428
    down = digdir.api.get("/clients")
    assert down.status_code == 503 and down.headers["retry-after"] == "2"
    assert down.json()["correlation_id"]


def test_429_comes_with_retry_after(digdir: Digdir) -> None:
    digdir.emu.faults.add("rate_limit", rate=0.5, burst=1)
    assert digdir.api.get("/clients").status_code == 200
    limited = digdir.api.get("/clients")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
