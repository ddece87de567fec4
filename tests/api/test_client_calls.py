"""DigdirClient against scripted transports: request shapes, results and error mapping."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from selvsync.api.client import EMULATOR_MERCHANT_PATH, DigdirClient
from selvsync.api.errors import (
    ConflictError,
    ForbiddenError,
    HttpStatusError,
    InvalidResponseError,
    NotFoundError,
    TermsNotSignedError,
    UnsupportedOperationError,
)
from selvsync.api.http import check_url
from selvsync.errors import ConfigError, ExitCode
from selvsync.sensitive.value import Secret

from .conftest import BASE, CLIENT_BODY, FakeTokens, json_response

CLIENT = CLIENT_BODY


def test_list_clients_sends_token_and_strips_secrets(make_client):
    client, script, tokens = make_client(
        json_response(200, [dict(CLIENT, client_secret="leak-me-123")])
    )
    assert client.list_clients() == [CLIENT]
    request = script.requests[0]
    assert request.method == "GET"
    assert request.url == f"{BASE}/api/v1/clients"
    assert request.headers["Authorization"] == "Bearer test-token-0"
    assert request.headers["Accept"] == "application/json"
    assert tokens.asked == [("idporten:dcr.read",)]


def test_list_inactive_and_custom_prefix(make_client):
    client, script, _ = make_client(json_response(200, []), prefix="external/api/v1/")
    assert client.list_clients(inactive=True) == []
    assert str(script.requests[0].url) == f"{BASE}/external/api/v1/clients?inactive=true"


def test_empty_prefix(make_client):
    client, script, _ = make_client(json_response(200, []), prefix="")
    client.list_clients()
    assert script.requests[0].url.path == "/clients"


def test_list_follows_next_links_on_the_same_host(make_client):
    page1 = json_response(200, [CLIENT], {"Link": '</api/v1/clients?page=2>; rel="next"'})
    page2 = json_response(200, [dict(CLIENT, client_id="b")])
    client, script, _ = make_client(page1, page2)
    assert [c["client_id"] for c in client.list_clients()] == ["0f9e5a7c", "b"]
    assert script.requests[1].url.params["page"] == "2"


def test_list_refuses_an_object(make_client):
    client, _, _ = make_client(json_response(200, {"clients": []}))
    with pytest.raises(InvalidResponseError, match="expected a JSON array"):
        client.list_clients()


def test_client_ids_are_quoted_into_one_segment(make_client):
    client, script, _ = make_client(json_response(200, CLIENT))
    client.get_client("../jwks?x", inactive=True)
    assert script.requests[0].url.raw_path == b"/api/v1/clients/..%2Fjwks%3Fx?inactive=true"


def test_create_returns_secret_once_and_never_in_the_dict(make_client):
    created = dict(
        CLIENT, client_secret="s3cr3t-value-xyz", token_endpoint_auth_method="client_secret_basic"
    )
    client, script, _ = make_client(json_response(201, created))
    result = client.create_client({"client_name": "Min tjeneste", "description": "x"})
    assert "client_secret" not in result.client
    assert isinstance(result.secret, Secret)
    assert result.secret.reveal() == "s3cr3t-value-xyz"
    assert str(result.secret) == "(sensitive)"
    assert json.loads(script.requests[0].content) == {
        "client_name": "Min tjeneste",
        "description": "x",
    }
    assert script.requests[0].headers["Content-Type"] == "application/json"


def test_create_without_secret(make_client):
    client, _, _ = make_client(json_response(201, CLIENT))
    assert client.create_client({"client_name": "n"}).secret is None


def test_create_refuses_a_client_secret_in_the_body(make_client):
    client, script, _ = make_client(json_response(201, CLIENT))
    with pytest.raises(ValueError, match="never sent"):
        client.create_client({"client_secret": "x"})
    assert script.requests == []


def test_update_deactivate_and_rotate(make_client):
    client, script, _ = make_client(
        json_response(200, CLIENT),
        httpx.Response(200),
        json_response(200, dict(CLIENT, client_secret="rotated-secret-1")),
    )
    assert client.update_client("0f9e5a7c", {"client_name": "y"}).client == CLIENT
    assert client.deactivate_client("0f9e5a7c") is None
    secret = client.rotate_secret("0f9e5a7c")
    assert secret.reveal() == "rotated-secret-1"
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("PUT", "/api/v1/clients/0f9e5a7c"),
        ("DELETE", "/api/v1/clients/0f9e5a7c"),
        ("POST", "/api/v1/clients/0f9e5a7c/secret"),
    ]


def test_jwks_replace_defaults_to_post_and_put_is_configurable(make_client):
    keys = [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "e": "AQAB", "n": "abc"}]
    reply = json_response(201, {"keys": keys, "created": "t"})
    client, script, _ = make_client(reply)
    assert client.replace_jwks("c1", keys)["keys"] == keys
    client2, script2, _ = make_client(reply, jwks_method="PUT")
    client2.replace_jwks("c1", keys)
    assert script.requests[0].method == "POST"
    assert script2.requests[0].method == "PUT"
    assert json.loads(script.requests[0].content) == {"keys": keys}


def test_jwks_replace_refuses_private_parts_and_empty_sets(make_client):
    client, script, _ = make_client(json_response(201, {"keys": []}))
    with pytest.raises(ValueError, match="private key material"):
        client.replace_jwks("c1", [{"kty": "RSA", "kid": "k", "d": "secret"}])
    with pytest.raises(ValueError, match="delete_jwks"):
        client.replace_jwks("c1", [])
    assert script.requests == []


def test_get_and_delete_jwks(make_client):
    client, script, _ = make_client(
        json_response(200, {"keys": [{"kid": "a"}]}), httpx.Response(200)
    )
    assert client.get_jwks("c1")["keys"] == [{"kid": "a"}]
    client.delete_jwks("c1")
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("GET", "/api/v1/clients/c1/jwks"),
        ("DELETE", "/api/v1/clients/c1/jwks"),
    ]


def test_merchant_needs_a_configured_api(make_client):
    client, _, _ = make_client(json_response(200, {}))
    assert not client.has_merchant_api
    with pytest.raises(UnsupportedOperationError, match="Samarbeidsportalen") as info:
        client.get_merchant("c1")
    assert info.value.exit_code == ExitCode.ERROR


def test_merchant_path_template(make_client):
    data = {"notification_emails": ["drift@example.no"]}
    client, script, _ = make_client(
        json_response(200, data), json_response(200, data), merchant_path=EMULATOR_MERCHANT_PATH
    )
    assert client.put_merchant("c1", data) == data
    assert client.get_merchant("c1") == data
    assert script.requests[0].url.path == "/api/v1/x-emulator/clients/c1/merchant"
    assert script.requests[0].method == "PUT"


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("/x-emulator/clients/{client_id}/merchant", "/api/v1/x-emulator/clients/c%2F1/merchant"),
        ("{prefix}/merchant/{id}", "/api/v1/merchant/c%2F1"),
        ("/elsewhere/{id}", "/api/v1/elsewhere/c%2F1"),
    ],
)
def test_merchant_path_placeholders(make_client, template, path):
    client, script, _ = make_client(json_response(200, {}), merchant_path=template)
    client.get_merchant("c/1")
    assert script.requests[0].url.raw_path.decode() == path


ERROR_BODY = {
    "status": 400,
    "timestamp": "2025-01-01T00:00:00Z",
    "correlation_id": "corr-42",
    "errors": [
        {
            "errorMessage": "must be https",
            "isFieldError": True,
            "objectName": "Client",
            "fieldIdentifier": "redirect_uris",
        }
    ],
    "error": "invalid_client_metadata",
    "error_description": "Invalid client metadata",
}


def test_validation_error_names_everything(make_client):
    client, _, _ = make_client(json_response(400, ERROR_BODY))
    with pytest.raises(HttpStatusError) as info:
        client.update_client("c1", {"client_name": "x"})
    err = info.value
    assert (err.status, err.method, err.path) == (400, "PUT", "/api/v1/clients/c1")
    assert err.correlation_id == "corr-42"
    assert err.error == "invalid_client_metadata"
    assert err.error_messages == ["redirect_uris: must be https"]
    text = str(err)
    for part in (
        "PUT /api/v1/clients/c1",
        "400",
        "redirect_uris: must be https",
        "corr-42",
        "invalid_client_metadata",
    ):
        assert part in text


@pytest.mark.parametrize(
    ("status", "cls", "phrase"),
    [
        (404, NotFoundError, "Not Found"),
        (409, ConflictError, "deactivated"),
        (428, TermsNotSignedError, "terms of use"),
    ],
)
def test_specific_status_errors(make_client, status, cls, phrase):
    client, script, _ = make_client(json_response(status, {"status": status, "errors": []}))
    with pytest.raises(cls, match=phrase):
        client.get_client("c1")
    assert len(script.requests) == 1  # never retried


def test_forbidden_names_the_missing_scope(make_client):
    body = {
        "status": 403,
        "errors": [{"errorMessage": "the token lacks the scope idporten:dcr.write"}],
    }
    client, _, _ = make_client(json_response(403, body))
    with pytest.raises(ForbiddenError) as info:
        client.deactivate_client("c1")
    assert info.value.missing_scope == "idporten:dcr.write"
    assert "ask Digdir" in str(info.value)


def test_forbidden_without_a_scope_in_the_body_says_what_was_asked(make_client):
    client, _, _ = make_client(httpx.Response(403, text="Forbidden"))
    with pytest.raises(ForbiddenError, match=r"requested: idporten:dcr\.read"):
        client.list_clients()


def test_plain_text_and_html_bodies(make_client):
    client, _, _ = make_client(httpx.Response(400, text="Bad things happened\n"))
    with pytest.raises(HttpStatusError, match="Bad things happened"):
        client.get_client("c1")
    html = "<html><body><h1>400 Bad Request</h1><p>nginx said no</p></body></html>"
    client, _, _ = make_client(
        httpx.Response(400, text=html, headers={"Content-Type": "text/html"})
    )
    with pytest.raises(HttpStatusError) as info:
        client.get_client("c1")
    assert "<" not in str(info.value) and "nginx said no" in str(info.value)


def test_unexpected_shape_is_an_invalid_response(make_client):
    client, _, _ = make_client(json_response(200, ["not", "a", "client"]))
    with pytest.raises(InvalidResponseError, match="expected a JSON object"):
        client.get_client("c1")
    client, _, _ = make_client(json_response(200, {"client_name": "no id"}))
    with pytest.raises(InvalidResponseError, match="no client_id"):
        client.get_client("c1")


def test_plain_http_only_to_loopback_or_in_process():
    check_url("http://127.0.0.1:8080", transport_injected=False)
    check_url("http://127.8.9.1", transport_injected=False)
    check_url("http://[::1]:80", transport_injected=False)
    check_url("http://localhost:1", transport_injected=False)
    check_url("http://emulator.selvsync.invalid", transport_injected=True)
    for url in (
        "http://api.samarbeid.digdir.no",
        "http://10.0.0.1",
        "ftp://x",
        "http://localhost.evil.no",
    ):
        with pytest.raises(ConfigError, match="only https"):
            check_url(url, transport_injected=False)
    with pytest.raises(ConfigError):
        DigdirClient("http://api.samarbeid.digdir.no", token_provider=FakeTokens(), scopes=[])


def test_missing_ca_bundle_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="CA bundle"):
        DigdirClient(
            BASE, token_provider=FakeTokens(), scopes=[], ca_bundle=str(tmp_path / "nope.pem")
        )


def test_parallel_workers_share_one_client(make_client):
    client, script, _ = make_client(json_response(200, CLIENT), concurrency=4)
    with client, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: client.get_client(f"c{i}"), range(40)))
    assert len(results) == 40
    assert client.request_count == 40 == len(script.requests)
