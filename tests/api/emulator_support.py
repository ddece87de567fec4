"""Helpers wiring the real client and token providers to an in-process emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from selvsync.api.auth import TokenProvider, build_token_provider
from selvsync.api.client import EMULATOR_MERCHANT_PATH, DigdirClient
from selvsync.api.retry import RetryPolicy
from selvsync.emulator import Emulator

from .conftest import ORGNO, FakeSleep, Pki, key_pem, write_private

HOST = "http://emulator.selvsync.invalid"
P12_PASSWORD = "p12-pass-word-9"
STATIC_TOKEN = "static-emulator-token-0123"
KID = "selvsync-test-admin-key"
POLICY = RetryPolicy(
    max_attempts=4,
    base_delay=1.0,
    max_delay=4.0,
    retry_after_cap=30.0,
    budget_seconds=60.0,
    jitter=0.0,
)


MASKIN = {
    "integration_type": "maskinporten",
    "application_type": "web",
    "client_name": "Batch",
    "description": "Batch [selvsync:v1 o=team-a k=batch]",
    "token_endpoint_auth_method": "private_key_jwt",
    "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
    "scopes": ["skatteetaten:test"],
}


def seeded_emulator(pki: Pki, seed: int) -> Emulator:
    """An in-memory emulator that trusts the test PKI and knows the static token."""
    emu = Emulator(seed=seed)
    setup_emulator(emu, pki)
    return emu


def public_jwk(pki: Pki) -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(
        pki.other_key.public_key(), as_dict=True
    )
    return {**jwk, "kid": KID, "alg": "RS256", "use": "sig"}


def setup_emulator(emu: Any, pki: Pki) -> None:
    ca = pki.ca_cert.public_bytes(serialization.Encoding.PEM)
    emu.add_admin_client(
        "admin-cert", ORGNO, ["idporten:dcr.read", "idporten:dcr.write"], certificates=[ca]
    )
    emu.add_admin_client(
        "admin-key", ORGNO, ["idporten:dcr.read", "idporten:dcr.write"], jwks=[public_jwk(pki)]
    )
    emu.add_admin_client("admin-readonly", ORGNO, ["idporten:dcr.read"], certificates=[ca])
    emu.add_token(STATIC_TOKEN, ORGNO)


def write_credentials(directory: Path, pki: Pki) -> None:
    p12 = pkcs12.serialize_key_and_certificates(
        b"virksomhet",
        pki.leaf_key,
        pki.leaf_cert,
        [pki.ca_cert],
        serialization.BestAvailableEncryption(P12_PASSWORD.encode()),
    )
    write_private(directory / "virksomhet.p12", p12)
    write_private(directory / "virksomhet-key.pem", key_pem(pki.leaf_key))
    (directory / "chain.pem").write_bytes(pki.pem(pki.leaf_cert) + pki.pem(pki.ca_cert))
    write_private(directory / "admin-key.pem", key_pem(pki.other_key))


AUTH_MODES: dict[str, dict[str, Any]] = {
    "pkcs12": {
        "method": "certificate",
        "client_id": "admin-cert",
        "pkcs12": "virksomhet.p12",
        "password_env": "SELVSYNC_P12_PASSWORD",
    },
    "pem": {
        "method": "certificate",
        "client_id": "admin-cert",
        "private_key": "virksomhet-key.pem",
        "certificate": "chain.pem",
    },
    "key": {"method": "key", "client_id": "admin-key", "kid": KID, "private_key": "admin-key.pem"},
    "token": {"method": "token", "token_env": "SELVSYNC_TOKEN"},
}
ENVIRON = {"SELVSYNC_P12_PASSWORD": P12_PASSWORD, "SELVSYNC_TOKEN": STATIC_TOKEN}


def tokens_for(
    settings: dict[str, Any],
    directory: Path,
    issuer: str,
    *,
    base: str = HOST,
    transport: httpx.BaseTransport | None = None,
    sleep: FakeSleep | None = None,
    environ: dict[str, str] | None = None,
) -> TokenProvider:
    return build_token_provider(
        settings,
        project_dir=directory,
        issuer=issuer,
        token_endpoint=f"{base}/token",
        environ={**ENVIRON, **(environ or {})},
        transport=transport,
        sleep=sleep or FakeSleep(),
        retry=POLICY,
    )


def client_for(
    tokens: TokenProvider,
    scopes: list[str],
    *,
    base: str = HOST,
    transport: httpx.BaseTransport | None = None,
    sleep: FakeSleep | None = None,
    **kwargs: Any,
) -> DigdirClient:
    return DigdirClient(
        base,
        token_provider=tokens,
        scopes=scopes,
        transport=transport,
        retry=POLICY,
        sleep=sleep or FakeSleep(),
        merchant_path=EMULATOR_MERCHANT_PATH,
        **kwargs,
    )
