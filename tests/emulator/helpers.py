"""Request bodies, keys and certificates the emulator tests build on."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ORG = "991825827"
OTHER_ORG = "974760673"
THIRD_ORG = "889640782"
ISSUER = "https://emulator.selvsync.invalid/"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
T0 = 1_700_000_000.0  # 2023-11-14T23:13:20+01:00, winter time in Oslo
API = "/api/v1"


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeSleep:
    """Records requested sleeps and moves the clock instead of waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds)


def idporten(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "integration_type": "idporten",
        "application_type": "web",
        "client_name": "Min tjeneste",
        "description": "selvsync:team-a:login",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": ["https://tjeneste.example.no/callback"],
        "post_logout_redirect_uris": ["https://tjeneste.example.no/logout"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def maskinporten(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "integration_type": "maskinporten",
        "application_type": "web",
        "client_name": "Integrasjon",
        "description": "selvsync:team-a:machine",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": [JWT_BEARER],
        "scopes": ["skatteetaten:testscope"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key: rsa.RSAPrivateKey, kid: str, alg: str = "RS256") -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "alg": alg, "use": "sig", "kid": kid,
            "e": b64url_uint(numbers.e), "n": b64url_uint(numbers.n)}


def _name(common_name: str, orgno: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if orgno:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, orgno))
    return x509.Name(attributes)


def certificate(subject_key: rsa.RSAPrivateKey, common_name: str, *,
                issuer_key: rsa.RSAPrivateKey | None = None,
                issuer_name: str | None = None, ca: bool = False, orgno: str | None = None,
                not_before: float = T0 - 86400, days: int = 365,
                san_ip: str | None = None) -> x509.Certificate:
    start = dt.datetime.fromtimestamp(not_before, dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, orgno))
        .issuer_name(_name(issuer_name or common_name))
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san_ip:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san_ip))]),
            critical=False)
    return builder.sign(issuer_key or subject_key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def x5c(*certs: x509.Certificate) -> list[str]:
    return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
            for c in certs]


def assertion(key: rsa.RSAPrivateKey, *, now: float, iss: str = "admin-client",
              aud: str | list[str] = ISSUER, scope: str = "idporten:dcr.read",
              lifetime: float = 120, jti: str | None = None, alg: str = "RS256",
              headers: dict[str, Any] | None = None, **claims: Any) -> str:
    payload: dict[str, Any] = {"iss": iss, "aud": aud, "scope": scope, "iat": int(now),
                               "exp": int(now + lifetime),
                               "jti": str(uuid.uuid4()) if jti is None else jti}
    payload.update(claims)
    return jwt.encode(payload, key, algorithm=alg, headers=headers or {})


def grant(http: httpx.Client, token: str) -> httpx.Response:
    return http.post("/token", data={"grant_type": JWT_BEARER, "assertion": token})


def create(http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post(f"{API}/clients", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def field_errors(response: httpx.Response) -> set[str | None]:
    return {e["fieldIdentifier"] for e in response.json()["errors"]}
