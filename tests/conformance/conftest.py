"""The conformance suite: the emulator served over a loopback socket and spoken to with raw
httpx, the way real clients (nais/digdirator, oslokommune/okdata-maskinporten-api) call
Digdir: a bearer token, JSON bodies, absolute URLs under ``{base}{prefix}``.

Each test names the behaviour of the API fact sheet (digdir-api.md, kept beside the
repository), or of the fidelity issue, that it pins down.
"""

from __future__ import annotations

import base64
import ssl
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from selvsync.emulator import Emulator
from selvsync.emulator.server import RunningServer, serve

ORG = "991825827"
ISSUER = "https://emulator.selvsync.invalid/"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
T0 = 1_700_000_000.0
YEAR = 365 * 24 * 3600
ADMIN = "selvbetjeningsklient"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key: rsa.RSAPrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
            "e": b64url_uint(numbers.e), "n": b64url_uint(numbers.n), **extra}


def idporten(**overrides: Any) -> dict[str, Any]:
    # The body shape digdirator's ClientRegistration sends (nais/digdirator,
    # pkg/digdir/types/types.go), without read-only fields.
    body: dict[str, Any] = {
        "integration_type": "idporten",
        "application_type": "web",
        "client_name": "Min side",
        "description": "selvsync conformance",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": ["https://minside.example.no/callback"],
        "post_logout_redirect_uris": ["https://minside.example.no/logout"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def maskinporten(**overrides: Any) -> dict[str, Any]:
    # okdata-maskinporten-api's create_client body (maskinporten_api/maskinporten_client.py).
    body: dict[str, Any] = {
        "integration_type": "maskinporten",
        "application_type": "web",
        "client_name": "okdata-test",
        "description": "Maskinporten client",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": [JWT_BEARER],
        "scopes": ["skatteetaten:testscope"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@dataclass
class Digdir:
    emu: Emulator
    server: RunningServer
    clock: Clock
    api: httpx.Client    # {base}{prefix}, with the bearer token
    root: httpx.Client   # the emulator root: /token, /.well-known/..., no token
    prefix: str
    admin_key: rsa.RSAPrivateKey

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.api.post("/clients", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def assertion(self, **claims: Any) -> str:
        payload: dict[str, Any] = {"iss": ADMIN, "aud": ISSUER, "scope": "idporten:dcr.read",
                                   "iat": int(self.clock.now), "exp": int(self.clock.now) + 120,
                                   "jti": str(uuid.uuid4())}
        payload.update(claims)
        return jwt.encode(payload, self.admin_key, algorithm="RS256", headers={"kid": "admin-1"})

    def grant(self, assertion: str) -> httpx.Response:
        return self.root.post("/token", data={"grant_type": JWT_BEARER, "assertion": assertion})


class MakeDigdir(Protocol):
    def __call__(self, prefix: str = ..., **options: Any) -> Digdir: ...


@pytest.fixture(scope="session")
def keys() -> list[rsa.RSAPrivateKey]:
    # Key generation is the slow part: make the few keys every test shares once.
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]


@pytest.fixture(scope="session")
def tls() -> ssl.SSLContext:
    # httpx builds a default TLS context per client (about 20 ms); the servers are plain
    # HTTP, so every client shares one.
    return ssl.create_default_context()


@pytest.fixture(scope="session")
def servers() -> Iterator[list[Digdir]]:
    """Every emulator the session started. Stopping a server waits for its poll interval,
    so they are all stopped together at the end, in parallel, to keep the suite fast."""
    started: list[Digdir] = []
    yield started

    def stop(digdir: Digdir) -> None:
        digdir.server.shutdown()
        digdir.emu.close()

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(stop, started))


@pytest.fixture
def make_digdir(keys: list[rsa.RSAPrivateKey], tls: ssl.SSLContext,
                servers: list[Digdir]) -> Iterator[MakeDigdir]:
    started: list[Digdir] = []

    def make(prefix: str = "/api/v1", **options: Any) -> Digdir:
        clock = Clock()
        emu = Emulator(prefix=prefix, clock=clock, sleep=lambda s: None, seed=11, **options)
        emu.add_token("conformance", ORG)
        emu.add_admin_client(ADMIN, ORG, jwks=[public_jwk(keys[0], "admin-1")])
        server = serve(emu)
        api = httpx.Client(base_url=server.url + prefix, verify=tls,
                           headers={"Authorization": "Bearer conformance",
                                    "Accept": "application/json"})
        root = httpx.Client(base_url=server.url, verify=tls)
        digdir = Digdir(emu, server, clock, api, root, prefix, keys[0])
        started.append(digdir)
        servers.append(digdir)
        return digdir

    yield make
    for digdir in started:
        digdir.api.close()
        digdir.root.close()


@pytest.fixture
def digdir(make_digdir: MakeDigdir) -> Digdir:
    return make_digdir()
