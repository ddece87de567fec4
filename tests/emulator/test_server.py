"""The emulator over a real loopback socket, plain and with TLS."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from selvsync.emulator import Emulator
from selvsync.emulator.server import RunningServer, serve

from .helpers import API, certificate, maskinporten, pem

AUTH = {"Authorization": "Bearer full"}


@pytest.fixture
def server(emu: Emulator) -> Iterator[RunningServer]:
    with serve(emu) as running:
        yield running


def test_serves_the_api_over_loopback(emu: Emulator, server: RunningServer) -> None:
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0
    with httpx.Client(base_url=server.url, headers=AUTH) as http:
        created = http.post(f"{API}/clients", json=maskinporten())
        assert created.status_code == 201
        client_id = created.json()["client_id"]
        assert created.json()["jwks_uri"] == f"{server.url}{API}/clients/{client_id}/jwks"
        assert [c["client_id"] for c in http.get(f"{API}/clients").json()] == [client_id]
        assert http.get(f"{API}/clients/nope").status_code == 404
        assert http.get("/_emulator/counters").json() == {
            "GET /clients": 1, "GET /clients/{id}": 1, "POST /clients": 1}


def test_commit_then_drop_closes_the_socket(emu: Emulator, server: RunningServer) -> None:
    emu.faults.add("drop", method="POST", times=1)
    with httpx.Client(base_url=server.url, headers=AUTH) as http:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            http.post(f"{API}/clients", json=maskinporten(client_name="dropped"))
        listed = http.get(f"{API}/clients")
        assert [c["client_name"] for c in listed.json()] == ["dropped"]


def test_concurrent_requests_over_the_socket(server: RunningServer) -> None:
    def create(i: int) -> int:
        with httpx.Client(base_url=server.url, headers=AUTH) as http:
            return http.post(f"{API}/clients", json=maskinporten(client_name=f"c{i}")).status_code

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(create, range(18))) == [201] * 18


def test_tls_with_a_test_ca(emu: Emulator, rsa_keys: list[rsa.RSAPrivateKey],
                            tmp_path: Path) -> None:
    ca_key, server_key = rsa_keys[0], rsa_keys[1]
    ca = certificate(ca_key, "Emulator test CA", ca=True, not_before=_now() - 3600)
    leaf = certificate(server_key, "127.0.0.1", issuer_key=ca_key, issuer_name="Emulator test CA",
                       not_before=_now() - 3600, san_ip="127.0.0.1")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(pem(leaf))
    key_file.write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    client_context = ssl.create_default_context(cadata=pem(ca).decode())

    with serve(emu, ssl_context=server_context) as running:
        assert running.url.startswith("https://127.0.0.1:")
        with httpx.Client(base_url=running.url, headers=AUTH, verify=client_context) as http:
            assert http.post(f"{API}/clients", json=maskinporten()).status_code == 201
            emu.faults.add("drop", times=1)
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                http.get(f"{API}/clients")
            assert len(http.get(f"{API}/clients").json()) == 1
        with httpx.Client(base_url=running.url, headers=AUTH) as untrusting, \
                pytest.raises(httpx.ConnectError):
            untrusting.get(f"{API}/clients")


def _now() -> float:
    import time

    return time.time()


def test_ipv6_url_is_bracketed(emu: Emulator) -> None:
    if not _has_ipv6():
        pytest.skip("no IPv6 loopback here")
    with serve(emu, host="::1") as running:
        assert running.url.startswith("http://[::1]:")
        with httpx.Client(base_url=running.url, headers=AUTH) as http:
            assert http.get(f"{API}/clients").status_code == 200


def _has_ipv6() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_server_keeps_serving_after_an_app_error(emu: Emulator, server: RunningServer,
                                                 monkeypatch: Any) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(emu.store, "list_clients", broken)
    with httpx.Client(base_url=server.url, headers=AUTH) as http:
        failed = http.get(f"{API}/clients")
        assert failed.status_code == 500 and failed.json()["status"] == 500
        assert "boom" not in failed.text
        assert http.get("/_emulator/health").status_code == 200
