"""Over a real loopback socket: TLS with a test CA, and faults as a real network shows them."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from selvsync.api.errors import AmbiguousWriteError, NetworkError
from selvsync.emulator import server as server_module

from .conftest import FakeSleep, Pki, key_pem, write_private
from .emulator_support import (
    AUTH_MODES,
    MASKIN,
    client_for,
    seeded_emulator,
    tokens_for,
    write_credentials,
)

WRITE = ["idporten:dcr.read", "idporten:dcr.write"]


@pytest.fixture
def emu(pki: Pki) -> Iterator[Any]:
    e = seeded_emulator(pki, seed=3)
    yield e
    e.close()


@pytest.fixture
def tls_server(emu: Any, pki: Pki, tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    cert = tmp_path / "server.pem"
    cert.write_bytes(pki.pem(pki.server_cert))
    key = write_private(tmp_path / "server-key.pem", key_pem(pki.server_key))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    ca = tmp_path / "test-ca.pem"
    ca.write_bytes(pki.ca_cert.public_bytes(serialization.Encoding.PEM))
    server = server_module.serve(emu, ssl_context=context)
    try:
        yield server, ca
    finally:
        server.shutdown()


def test_tls_with_a_custom_ca_bundle(emu, pki, tmp_path, tls_server):
    server, ca = tls_server
    assert server.url.startswith("https://127.0.0.1:")
    write_credentials(tmp_path, pki)
    # The extra trust comes from the process environment, never from YAML.
    tokens = tokens_for(
        AUTH_MODES["pkcs12"], tmp_path, emu.issuer, base=server.url,
        environ={"SELVSYNC_CA_BUNDLE": str(ca)},
    )
    with client_for(tokens, WRITE, base=server.url, ca_bundle=str(ca)) as client:
        created = client.create_client(MASKIN)
        assert [c["client_id"] for c in client.list_clients()] == [created.client["client_id"]]
        assert client.request_count == 2
    assert emu.counters()["POST /token"] == 1


def test_tls_verification_is_always_on(emu, tls_server):
    server, _ = tls_server
    emu.add_token("static-socket-token-1", "991825827")
    from selvsync.api.auth import StaticTokenProvider
    from selvsync.sensitive.value import Secret

    sleep = FakeSleep()
    with (
        client_for(
            StaticTokenProvider(Secret("static-socket-token-1")),
            WRITE,
            base=server.url,
            sleep=sleep,
        ) as client,
        pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.list_clients()


def test_commit_then_drop_over_a_real_socket(emu):
    emu.add_token("static-socket-token-2", "991825827")
    from selvsync.api.auth import StaticTokenProvider
    from selvsync.sensitive.value import Secret

    emu.faults.add("drop", method="POST", path="*/clients", times=1)
    with server_module.serve(emu) as server:
        assert server.url.startswith("http://127.0.0.1:")  # plain http: loopback only
        with client_for(
            StaticTokenProvider(Secret("static-socket-token-2")), WRITE, base=server.url
        ) as client:
            with pytest.raises(AmbiguousWriteError):
                client.create_client(MASKIN)
            assert len(client.list_clients()) == 1
