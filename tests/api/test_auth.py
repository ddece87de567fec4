"""Maskinporten grants: assertion contents, credential loading, caching, errors."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from selvsync.api.auth import (
    GRANT_TYPE,
    MaskinportenTokenProvider,
    StaticTokenProvider,
    TokenProvider,
    build_token_provider,
    scopes_for,
)
from selvsync.api.errors import AuthenticationError, CredentialsError, NetworkError
from selvsync.api.retry import RetryPolicy

from .conftest import FakeSleep, Pki, json_response, key_pem, write_private

ISSUER = "https://test.maskinporten.no/"
TOKEN_URL = "https://test.maskinporten.no/token"
NOW = float(int(time.time()))
ENV = {"SELVSYNC_P12_PASSWORD": "p12-password-1"}


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TokenEndpoint:
    """A Maskinporten stand-in that decodes (without verifying) and records assertions."""

    def __init__(self, *statuses: httpx.Response) -> None:
        self.assertions: list[str] = []
        self.forms: list[dict[str, list[str]]] = []
        self.canned = list(statuses)
        self.issued = 0
        self.lock = threading.Lock()
        self.delay = 0.0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.read().decode())
        with self.lock:
            self.forms.append(form)
            self.assertions.append(form["assertion"][0])
        if self.delay:
            time.sleep(self.delay)
        if self.canned:
            return self.canned.pop(0)
        with self.lock:
            self.issued += 1
            n = self.issued
        return json_response(
            200,
            {
                "access_token": f"issued-token-{n}",
                "token_type": "Bearer",
                "expires_in": 120,
                "scope": "idporten:dcr.read",
            },
        )


def make_p12(
    tmp_path: Path, pki: Pki, password: bytes = b"p12-password-1", mode: int = 0o600
) -> Path:
    data = pkcs12.serialize_key_and_certificates(
        b"virksomhet",
        pki.leaf_key,
        pki.leaf_cert,
        [pki.ca_cert],
        serialization.BestAvailableEncryption(password),
    )
    return write_private(tmp_path / "virksomhet.p12", data, mode)


def provider(
    tmp_path: Path,
    settings: dict,
    endpoint: TokenEndpoint,
    clock: Clock | None = None,
    env: dict[str, str] | None = None,
    **kw,
) -> TokenProvider:
    return build_token_provider(
        settings,
        project_dir=tmp_path,
        issuer=ISSUER,
        token_endpoint=TOKEN_URL,
        environ=ENV if env is None else env,
        transport=httpx.MockTransport(endpoint),
        clock=clock or Clock(),
        sleep=FakeSleep(),
        **kw,
    )


def p12_settings() -> dict:
    return {
        "method": "certificate",
        "client_id": "admin-1",
        "pkcs12": "virksomhet.p12",
        "password_env": "SELVSYNC_P12_PASSWORD",
    }


def test_pkcs12_grant_claims_and_x5c(tmp_path, pki):
    make_p12(tmp_path, pki)
    endpoint = TokenEndpoint()
    tokens = provider(tmp_path, p12_settings(), endpoint)
    assert tokens.access_token(["idporten:dcr.read", "idporten:dcr.write"]) == "issued-token-1"
    form = endpoint.forms[0]
    assert form["grant_type"] == [GRANT_TYPE]
    assertion = endpoint.assertions[0]
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "RS256" and "kid" not in header
    der = [base64.b64decode(c, validate=True) for c in header["x5c"]]
    assert der == [
        pki.leaf_cert.public_bytes(serialization.Encoding.DER),
        pki.ca_cert.public_bytes(serialization.Encoding.DER),
    ]
    claims = jwt.decode(
        assertion,
        pki.leaf_key.public_key(),
        algorithms=["RS256"],
        audience=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["aud"] == ISSUER and claims["iss"] == "admin-1"
    assert claims["scope"] == "idporten:dcr.read idporten:dcr.write"
    assert claims["iat"] == int(NOW) and claims["exp"] - claims["iat"] <= 120
    uuid.UUID(claims["jti"])


def test_pem_key_and_chain_in_any_order(tmp_path, pki):
    write_private(tmp_path / "key.pem", key_pem(pki.leaf_key))
    (tmp_path / "chain.pem").write_bytes(pki.pem(pki.ca_cert) + pki.pem(pki.leaf_cert))
    endpoint = TokenEndpoint()
    tokens = provider(
        tmp_path,
        {
            "method": "certificate",
            "client_id": "admin-1",
            "private_key": "key.pem",
            "certificate": "chain.pem",
        },
        endpoint,
    )
    tokens.access_token(["idporten:dcr.read"])
    header = jwt.get_unverified_header(endpoint.assertions[0])
    first = base64.b64decode(header["x5c"][0])
    assert first == pki.leaf_cert.public_bytes(serialization.Encoding.DER)


def test_encrypted_pem_key_with_password_env(tmp_path, pki):
    write_private(tmp_path / "key.pem", key_pem(pki.other_key, b"pem-password"))
    endpoint = TokenEndpoint()
    settings = {
        "method": "key",
        "client_id": "admin-1",
        "kid": "my-kid",
        "private_key": "key.pem",
        "password_env": "KEY_PW",
    }
    provider(tmp_path, settings, endpoint, env={"KEY_PW": "pem-password"}).access_token(
        ["idporten:dcr.read"]
    )
    with pytest.raises(CredentialsError, match="set password_env"):
        provider(tmp_path, {k: v for k, v in settings.items() if k != "password_env"}, endpoint)
    with pytest.raises(CredentialsError, match="password is wrong"):
        provider(tmp_path, settings, endpoint, env={"KEY_PW": "wrong"})


def test_key_mode_uses_kid(tmp_path, pki):
    write_private(tmp_path / "key.pem", key_pem(pki.other_key))
    endpoint = TokenEndpoint()
    tokens = provider(
        tmp_path,
        {
            "method": "key",
            "client_id": "admin-1",
            "kid": "my-kid",
            "private_key": str(tmp_path / "key.pem"),
        },
        endpoint,
    )
    tokens.access_token(["idporten:dcr.read"])
    header = jwt.get_unverified_header(endpoint.assertions[0])
    assert header["kid"] == "my-kid" and "x5c" not in header
    jwt.decode(
        endpoint.assertions[0],
        pki.other_key.public_key(),
        algorithms=["RS256"],
        audience=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )


def test_token_mode(tmp_path):
    tokens = provider(
        tmp_path,
        {"method": "token", "token_env": "SELVSYNC_TOKEN"},
        TokenEndpoint(),
        env={"SELVSYNC_TOKEN": "pre-issued-abc"},
    )
    assert isinstance(tokens, StaticTokenProvider)
    assert tokens.access_token(["anything"]) == "pre-issued-abc"
    assert "SELVSYNC_TOKEN" in tokens.description
    with pytest.raises(CredentialsError, match="SELVSYNC_TOKEN"):
        provider(
            tmp_path, {"method": "token", "token_env": "SELVSYNC_TOKEN"}, TokenEndpoint(), env={}
        )


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_private_files_readable_by_others_are_refused(tmp_path, pki, mode):
    path = make_p12(tmp_path, pki, mode=mode)
    with pytest.raises(CredentialsError) as info:
        provider(tmp_path, p12_settings(), TokenEndpoint())
    assert str(path) in str(info.value) and "chmod 600" in str(info.value)
    write_private(tmp_path / "key.pem", key_pem(pki.other_key), mode)
    with pytest.raises(CredentialsError, match="chmod 600"):
        provider(
            tmp_path,
            {"method": "key", "client_id": "a", "kid": "k", "private_key": "key.pem"},
            TokenEndpoint(),
        )


def test_credential_problems_are_clear(tmp_path, pki):
    with pytest.raises(CredentialsError, match="file not found"):
        provider(tmp_path, p12_settings(), TokenEndpoint())
    make_p12(tmp_path, pki, password=b"other")
    with pytest.raises(CredentialsError, match="wrong password"):
        provider(tmp_path, p12_settings(), TokenEndpoint())
    with pytest.raises(CredentialsError, match="SELVSYNC_P12_PASSWORD"):
        provider(tmp_path, p12_settings(), TokenEndpoint(), env={})
    with pytest.raises(CredentialsError, match="unknown method"):
        provider(tmp_path, {"method": "password"}, TokenEndpoint())
    with pytest.raises(CredentialsError, match="needs 'kid'"):
        provider(
            tmp_path, {"method": "key", "client_id": "a", "private_key": "k.pem"}, TokenEndpoint()
        )


def test_certificate_must_match_key_and_be_valid(tmp_path, pki):
    write_private(tmp_path / "key.pem", key_pem(pki.other_key))
    (tmp_path / "chain.pem").write_bytes(pki.pem(pki.leaf_cert))
    settings = {
        "method": "certificate",
        "client_id": "a",
        "private_key": "key.pem",
        "certificate": "chain.pem",
    }
    with pytest.raises(CredentialsError, match="belongs to the private key"):
        provider(tmp_path, settings, TokenEndpoint())
    write_private(tmp_path / "key.pem", key_pem(pki.leaf_key))
    with pytest.raises(CredentialsError, match="expired"):
        provider(tmp_path, settings, TokenEndpoint(), clock=Clock(time.time() + 400 * 86400))


def test_tokens_are_cached_per_scope_set_and_refreshed_before_expiry(tmp_path, pki):
    make_p12(tmp_path, pki)
    endpoint, clock = TokenEndpoint(), Clock()
    tokens = provider(tmp_path, p12_settings(), endpoint, clock)
    read = ["idporten:dcr.read"]
    assert tokens.access_token(read) == tokens.access_token(list(read)) == "issued-token-1"
    assert tokens.access_token(["idporten:dcr.write", "idporten:dcr.read"]) == "issued-token-2"
    assert tokens.access_token(["idporten:dcr.read", "idporten:dcr.write"]) == "issued-token-2"
    clock.now += 89  # expires_in 120, refreshed 30 s early
    assert tokens.access_token(read) == "issued-token-1"
    clock.now += 2
    assert tokens.access_token(read) == "issued-token-3"
    tokens.invalidate("issued-token-3")
    assert tokens.access_token(read) == "issued-token-4"
    tokens.invalidate("some-old-token")  # someone else's stale token: no refetch
    assert tokens.access_token(read) == "issued-token-4"
    jtis = {jwt.decode(a, options={"verify_signature": False})["jti"] for a in endpoint.assertions}
    assert len(jtis) == len(endpoint.assertions) == 4


def test_eight_workers_cause_one_token_request(tmp_path, pki):
    make_p12(tmp_path, pki)
    endpoint = TokenEndpoint()
    endpoint.delay = 0.05
    tokens = provider(tmp_path, p12_settings(), endpoint)
    barrier = threading.Barrier(8)
    results: list[str] = []

    def worker() -> None:
        barrier.wait()
        results.append(tokens.access_token(["idporten:dcr.read"]))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["issued-token-1"] * 8
    assert len(endpoint.assertions) == 1


@pytest.mark.parametrize(
    "description",
    [
        "Invalid assertion. Client authentication failed. iat is in the future: 65 s ahead",
        "Invalid assertion. Client authentication failed. The JWT has expired",
        "Invalid assertion. Client authentication failed. Invalid JWT: token is not yet valid",
    ],
)
def test_clock_skew_errors_mention_ntp(tmp_path, pki, description):
    make_p12(tmp_path, pki)
    endpoint = TokenEndpoint(
        json_response(400, {"error": "invalid_grant", "error_description": description})
    )
    with pytest.raises(AuthenticationError) as info:
        provider(tmp_path, p12_settings(), endpoint).access_token(["idporten:dcr.read"])
    text = str(info.value)
    assert (
        "check the machine's clock (NTP)" in text and "invalid_grant" in text and "admin-1" in text
    )
    assert info.value.error == "invalid_grant" and info.value.status == 400
    assert len(endpoint.assertions) == 1  # a refusal is not retried


def test_invalid_scope_names_the_scopes(tmp_path, pki):
    make_p12(tmp_path, pki)
    endpoint = TokenEndpoint(
        json_response(
            400,
            {"error": "invalid_scope", "error_description": "idporten:dcr.modify is not allowed"},
        )
    )
    with pytest.raises(
        AuthenticationError, match=r"Requested scopes: idporten:dcr\.modify.*Ask Digdir"
    ):
        provider(tmp_path, p12_settings(), endpoint).access_token(["idporten:dcr.modify"])


def test_token_endpoint_outage_is_retried_with_fresh_jti(tmp_path, pki):
    make_p12(tmp_path, pki)
    endpoint = TokenEndpoint(httpx.Response(503), httpx.Response(502, text="Bad gateway"))
    assert (
        provider(tmp_path, p12_settings(), endpoint).access_token(["idporten:dcr.read"])
        == "issued-token-1"
    )
    jtis = {jwt.decode(a, options={"verify_signature": False})["jti"] for a in endpoint.assertions}
    assert len(jtis) == 3


def test_token_endpoint_down_for_good(tmp_path, pki):
    make_p12(tmp_path, pki)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    tokens = build_token_provider(
        p12_settings(),
        project_dir=tmp_path,
        issuer=ISSUER,
        token_endpoint=TOKEN_URL,
        environ=ENV,
        transport=httpx.MockTransport(refuse),
        clock=Clock(),
        sleep=FakeSleep(),
        retry=RetryPolicy(max_attempts=3, jitter=0),
    )
    with pytest.raises(NetworkError, match=r"could not get an access token.*after 3 attempts"):
        tokens.access_token(["idporten:dcr.read"])


def test_a_200_without_token_is_an_error(tmp_path, pki):
    make_p12(tmp_path, pki)
    endpoint = TokenEndpoint(json_response(200, {"token_type": "Bearer"}))
    with pytest.raises(AuthenticationError, match="without a usable access_token"):
        provider(tmp_path, p12_settings(), endpoint).access_token(["idporten:dcr.read"])


def test_scopes_least_privilege_by_default():
    assert scopes_for({}, "plan") == ("idporten:dcr.read",)
    assert scopes_for({}, "apply") == ("idporten:dcr.read", "idporten:dcr.write")
    configured = {
        "scopes": {"apply": ["idporten:dcr.read", "idporten:dcr.write", "idporten:dcr.modify"]}
    }
    assert scopes_for(configured, "apply")[-1] == "idporten:dcr.modify"
    assert scopes_for(configured, "plan") == ("idporten:dcr.read",)


def test_a_supplier_credential_adds_the_supplier_scope_and_yaml_cannot():
    supplier = "idporten:dcr.supplier"
    assert scopes_for({}, "plan", supplier=True) == ("idporten:dcr.read", supplier)
    assert scopes_for({}, "apply", supplier=True) == (
        "idporten:dcr.read", "idporten:dcr.write", supplier)
    narrowed = {"scopes": {"apply": ["idporten:dcr.read", supplier]}}
    # A narrowed list keeps the supplier scope only because the organisations say so.
    assert scopes_for(narrowed, "apply") == ("idporten:dcr.read",)
    assert scopes_for(narrowed, "apply", supplier=True) == ("idporten:dcr.read", supplier)


def test_assertion_lifetime_is_capped():
    with pytest.raises(ValueError, match=r"1\.\.120"):
        MaskinportenTokenProvider(
            "a",
            issuer=ISSUER,
            token_endpoint=TOKEN_URL,
            signer=None,  # type: ignore[arg-type]
            assertion_lifetime=121,
        )


def test_literal_secrets_in_yaml_are_refused(tmp_path):
    with pytest.raises(CredentialsError, match="literal secrets"):
        provider(tmp_path, {"method": "token", "token": "abc"}, TokenEndpoint())
    with pytest.raises(CredentialsError, match="password_env"):
        provider(tmp_path, {**p12_settings(), "password": "x"}, TokenEndpoint())
