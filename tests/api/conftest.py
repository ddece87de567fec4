"""Shared fixtures: RSA keys and certificates (generated once per session: slow), a fake
sleep that never waits, scripted httpx transports and a fake token provider."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from selvsync.api.client import DigdirClient
from selvsync.api.retry import RetryPolicy

ORGNO = "991825827"
BASE = "https://api.test.samarbeid.digdir.no"
CLIENT_BODY = {"client_id": "0f9e5a7c", "client_name": "Min tjeneste", "description": "x"}


@dataclass
class Pki:
    ca_key: rsa.RSAPrivateKey
    ca_cert: x509.Certificate
    leaf_key: rsa.RSAPrivateKey
    leaf_cert: x509.Certificate
    other_key: rsa.RSAPrivateKey  # for "key" mode and mismatches
    server_key: rsa.RSAPrivateKey
    server_cert: x509.Certificate  # TLS certificate for 127.0.0.1 / localhost

    def pem(self, cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str, orgno: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ]
    if orgno:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, orgno))
    return x509.Name(attrs)


def _cert(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool = False,
    sans: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="session")
def pki() -> Pki:
    import ipaddress

    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(4)]
    ca_key, leaf_key, other_key, server_key = keys
    ca_name = _name("Selvsync Test CA")
    ca_cert = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    leaf_cert = _cert(_name("TEST VIRKSOMHET AS", ORGNO), leaf_key, ca_name, ca_key)
    server_cert = _cert(
        _name("localhost"),
        server_key,
        ca_name,
        ca_key,
        sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    return Pki(ca_key, ca_cert, leaf_key, leaf_cert, other_key, server_key, server_cert)


def write_private(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def key_pem(key: rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


class FakeSleep:
    """Records requested waits instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


class FakeTokens:
    """A TokenProvider that hands out numbered tokens and records invalidations."""

    def __init__(self, prefix: str = "test-token") -> None:
        self.prefix = prefix
        self.generation = 0
        self.asked: list[tuple[str, ...]] = []
        self.invalidated: list[str | None] = []
        self.description = "the fake token provider"

    def access_token(self, scopes: Sequence[str]) -> str:
        self.asked.append(tuple(scopes))
        return f"{self.prefix}-{self.generation}"

    def invalidate(self, token: str | None = None) -> None:
        self.invalidated.append(token)
        self.generation += 1


Step = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class Script:
    """An httpx handler answering with scripted steps in order (the last one repeats)."""

    steps: list[Step]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


FAST = RetryPolicy(
    max_attempts=5,
    base_delay=1.0,
    max_delay=8.0,
    retry_after_cap=60.0,
    budget_seconds=100.0,
    jitter=0.0,
)


@pytest.fixture
def make_client(
    fake_sleep: FakeSleep,
) -> Iterator[Callable[..., tuple[DigdirClient, Script, FakeTokens]]]:
    made: list[DigdirClient] = []

    def make(
        *steps: Step, retry: RetryPolicy = FAST, tokens: FakeTokens | None = None, **kwargs: Any
    ) -> tuple[DigdirClient, Script, FakeTokens]:
        script = Script(list(steps))
        tokens = tokens or FakeTokens()
        client = DigdirClient(
            BASE,
            token_provider=tokens,
            scopes=["idporten:dcr.read"],
            transport=httpx.MockTransport(script),
            retry=retry,
            sleep=fake_sleep,
            **kwargs,
        )
        made.append(client)
        return client, script, tokens

    yield make
    for c in made:
        c.close()
