"""Maskinporten's JWT-bearer grant at POST /token, with certificates made in the test."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from selvsync.emulator import Emulator

from .conftest import client_for
from .helpers import (
    API,
    JWT_BEARER,
    ORG,
    OTHER_ORG,
    T0,
    FakeClock,
    assertion,
    certificate,
    grant,
    maskinporten,
    pem,
    public_jwk,
    x5c,
)

READ, WRITE = "idporten:dcr.read", "idporten:dcr.write"


@dataclass(frozen=True)
class Pki:
    ca_key: rsa.RSAPrivateKey
    ca: x509.Certificate
    leaf_key: rsa.RSAPrivateKey
    leaf: x509.Certificate
    pinned_key: rsa.RSAPrivateKey
    pinned: x509.Certificate
    stranger: x509.Certificate
    other_org_leaf: x509.Certificate
    expired_leaf: x509.Certificate


@pytest.fixture(scope="session")
def pki(rsa_keys: list[rsa.RSAPrivateKey]) -> Pki:
    ca_key, leaf_key, pinned_key, stranger_key = rsa_keys
    ca = certificate(ca_key, "Test CA", ca=True)
    return Pki(
        ca_key=ca_key, ca=ca, leaf_key=leaf_key,
        leaf=certificate(leaf_key, "Virksomhet", issuer_key=ca_key, issuer_name="Test CA",
                         orgno=ORG),
        pinned_key=pinned_key, pinned=certificate(pinned_key, "Pinned", orgno=ORG),
        stranger=certificate(stranger_key, "Stranger", orgno=ORG),
        other_org_leaf=certificate(leaf_key, "Annen", issuer_key=ca_key, issuer_name="Test CA",
                                   orgno=OTHER_ORG),
        expired_leaf=certificate(leaf_key, "Gammel", issuer_key=ca_key, issuer_name="Test CA",
                                 orgno=ORG, not_before=T0 - 400 * 86400),
    )


@pytest.fixture
def emu(make_emulator: Any, pki: Pki, rsa_keys: list[rsa.RSAPrivateKey]) -> Emulator:
    emulator: Emulator = make_emulator()
    emulator.add_admin_client("admin-client", ORG, [READ, WRITE],
                              certificates=[pem(pki.ca), pem(pki.pinned).decode()],
                              jwks=[public_jwk(rsa_keys[3], "admin-kid")])
    return emulator


@pytest.fixture
def anon(emu: Emulator) -> Iterator[httpx.Client]:
    with client_for(emu, token=None) as client:
        yield client


def signed(pki: Pki, clock: FakeClock, **options: Any) -> str:
    headers = {"x5c": x5c(pki.leaf, pki.ca)}
    headers.update(options.pop("headers", {}))
    return assertion(options.pop("key", pki.leaf_key), now=options.pop("now", clock.now),
                     headers=headers, **options)


def refused(response: httpx.Response, error: str = "invalid_grant") -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error
    description: str = body["error_description"]
    return description


def test_certificate_issued_by_trusted_ca_gets_a_token(anon: httpx.Client, pki: Pki,
                                                       clock: FakeClock) -> None:
    response = grant(anon, signed(pki, clock, scope=f"{READ} {WRITE}"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 120
    assert body["scope"] == f"{READ} {WRITE}"
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    created = anon.post(f"{API}/clients", json=maskinporten(), headers=auth)
    assert created.status_code == 201 and created.json()["client_orgno"] == ORG
    assert anon.get(f"{API}/clients", headers=auth).status_code == 200


def test_token_carries_only_the_granted_scopes(anon: httpx.Client, pki: Pki,
                                               clock: FakeClock) -> None:
    token = grant(anon, signed(pki, clock, scope=READ)).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert anon.get(f"{API}/clients", headers=auth).status_code == 200
    assert anon.post(f"{API}/clients", json=maskinporten(), headers=auth).status_code == 403


def test_access_token_expires(anon: httpx.Client, pki: Pki, clock: FakeClock) -> None:
    token = grant(anon, signed(pki, clock)).json()["access_token"]
    clock.advance(121)
    response = anon.get(f"{API}/clients", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "expired" in response.text


def test_directly_trusted_certificate(anon: httpx.Client, pki: Pki, clock: FakeClock) -> None:
    token = assertion(pki.pinned_key, now=clock.now, headers={"x5c": x5c(pki.pinned)})
    assert grant(anon, token).status_code == 200


def test_registered_kid(anon: httpx.Client, rsa_keys: list[rsa.RSAPrivateKey],
                        clock: FakeClock) -> None:
    token = assertion(rsa_keys[3], now=clock.now, headers={"kid": "admin-kid"})
    assert grant(anon, token).status_code == 200
    unknown = assertion(rsa_keys[3], now=clock.now, headers={"kid": "nobody"})
    assert "Unknown kid" in refused(grant(anon, unknown))
    wrong_key = assertion(rsa_keys[0], now=clock.now, headers={"kid": "admin-kid"})
    assert "signature" in refused(grant(anon, wrong_key))


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
def test_other_rsa_algorithms(anon: httpx.Client, pki: Pki, clock: FakeClock, alg: str) -> None:
    assert grant(anon, signed(pki, clock, alg=alg)).status_code == 200


def test_untrusted_and_foreign_certificates(anon: httpx.Client, pki: Pki,
                                            clock: FakeClock, rsa_keys: list[Any]) -> None:
    stranger = assertion(rsa_keys[3], now=clock.now, headers={"x5c": x5c(pki.stranger)})
    assert "not trusted" in refused(grant(anon, stranger))
    other_org = signed(pki, clock, headers={"x5c": x5c(pki.other_org_leaf)})
    assert OTHER_ORG in refused(grant(anon, other_org))
    expired = signed(pki, clock, headers={"x5c": x5c(pki.expired_leaf)})
    assert "expired" in refused(grant(anon, expired))


def test_signature_must_match_the_certificate(anon: httpx.Client, pki: Pki,
                                              clock: FakeClock) -> None:
    forged = signed(pki, clock, key=pki.pinned_key)
    assert "Invalid signature" in refused(grant(anon, forged))


def test_x5c_must_be_standard_base64(anon: httpx.Client, pki: Pki, clock: FakeClock) -> None:
    standard = x5c(pki.leaf)[0]
    assert "+" in standard or "/" in standard, "precondition: the DER needs those characters"
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(standard)).decode()
    token = signed(pki, clock, headers={"x5c": [urlsafe]})
    assert "standard-base64" in refused(grant(anon, token))


def test_header_needs_x5c_or_kid(anon: httpx.Client, pki: Pki, clock: FakeClock) -> None:
    token = assertion(pki.leaf_key, now=clock.now)
    assert "x5c" in refused(grant(anon, token))


def test_only_rsa_algorithms(anon: httpx.Client, clock: FakeClock) -> None:
    import jwt

    token = jwt.encode({"iss": "admin-client", "iat": int(clock.now)}, "k" * 32,
                       algorithm="HS256")
    assert "Unsupported alg" in refused(grant(anon, token))


def test_audience_must_be_the_issuer(anon: httpx.Client, pki: Pki, clock: FakeClock) -> None:
    token_url = signed(pki, clock, aud="https://emulator.selvsync.invalid/token")
    assert "aud" in refused(grant(anon, token_url))
    as_list = signed(pki, clock, aud=["https://emulator.selvsync.invalid/"])
    assert grant(anon, as_list).status_code == 200


def test_lifetime_at_most_120_seconds(anon: httpx.Client, pki: Pki, clock: FakeClock) -> None:
    assert "120" in refused(grant(anon, signed(pki, clock, lifetime=121)))
    assert grant(anon, signed(pki, clock, lifetime=120)).status_code == 200
    assert "exp - iat" in refused(grant(anon, signed(pki, clock, lifetime=0)))


def test_clock_skew_is_reported_clearly(anon: httpx.Client, pki: Pki, clock: FakeClock) -> None:
    ahead = refused(grant(anon, signed(pki, clock, now=clock.now + 11)))
    assert "iat is in the future" in ahead and "clock" in ahead
    assert grant(anon, signed(pki, clock, now=clock.now + 9)).status_code == 200
    behind = refused(grant(anon, signed(pki, clock, now=clock.now - 11)))
    assert "iat is too old" in behind
    assert grant(anon, signed(pki, clock, now=clock.now - 9)).status_code == 200
    expired = refused(grant(anon, signed(pki, clock, now=clock.now - 200)))
    assert "expired" in expired


def test_replayed_jti_is_rejected(anon: httpx.Client, pki: Pki, clock: FakeClock) -> None:
    token = signed(pki, clock, jti="fixed-jti")
    assert grant(anon, token).status_code == 200
    assert "Grant is used before" in refused(grant(anon, token))
    again = signed(pki, clock, jti="fixed-jti", now=clock.now + 1)
    assert "Grant is used before" in refused(grant(anon, again))
    assert "jti is required" in refused(grant(anon, signed(pki, clock, jti="")))


def test_scope_must_be_allowed(anon: httpx.Client, pki: Pki, clock: FakeClock) -> None:
    not_allowed = grant(anon, signed(pki, clock, scope=f"{READ} idporten:dcr.supplier"))
    assert "idporten:dcr.supplier" in refused(not_allowed, "invalid_scope")
    unknown = grant(anon, signed(pki, clock, scope="made:up"))
    assert "made:up" in refused(unknown, "invalid_scope")
    refused(grant(anon, signed(pki, clock, scope="")), "invalid_scope")


def test_unknown_client_and_malformed_requests(anon: httpx.Client, pki: Pki,
                                               clock: FakeClock) -> None:
    refused(grant(anon, signed(pki, clock, iss="someone-else")), "invalid_client")
    wrong_grant = anon.post("/token", data={"grant_type": "client_credentials",
                                            "assertion": signed(pki, clock)})
    refused(wrong_grant, "unsupported_grant_type")
    refused(anon.post("/token", data={"grant_type": JWT_BEARER}), "invalid_request")
    assert "not a valid JWT" in refused(grant(anon, "not.a.jwt"))
    assert anon.get("/token").status_code == 405


def test_token_requests_are_counted(emu: Emulator, anon: httpx.Client, pki: Pki,
                                    clock: FakeClock) -> None:
    grant(anon, signed(pki, clock))
    grant(anon, "broken")
    assert emu.counters()["POST /token"] == 2


def test_admin_keys_must_be_public(emu: Emulator, rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    leaky = {**public_jwk(rsa_keys[0], "x"), "d": "secret"}
    with pytest.raises(ValueError, match="public"):
        emu.add_admin_client("leaky", ORG, [READ], jwks=[leaky])
