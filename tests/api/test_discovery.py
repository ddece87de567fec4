"""Token endpoint discovery (RFC 8414) against the emulator served over loopback.

An environment that names only ``issuer`` gets ``token_endpoint`` from
``{issuer}.well-known/oauth-authorization-server``, once per run; the grant's ``aud`` stays the
issuer, and a discovered endpoint outside the trusted hosts gets no grant at all.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from selvsync.api.auth.discovery import (
    DiscoveryError,
    TokenEndpoints,
    discover_token_endpoint,
    metadata_url,
)
from selvsync.cli import connecting, main
from selvsync.config import load_project
from selvsync.config.trust import untrusted_reason
from selvsync.emulator import Emulator
from selvsync.emulator.server import RunningServer, serve

from .conftest import ORGNO, Pki, key_pem, write_private
from .emulator_support import KID, public_jwk

METADATA = "GET /.well-known/oauth-authorization-server"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Served:
    """An emulator whose issuer is its own loopback URL, so discovery finds it."""

    def __init__(self, pki: Pki, rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None):
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.issuer = self.base + "/"
        self.emu = Emulator(issuer=self.issuer, seed=5)
        self.emu.add_admin_client("admin-key", ORGNO, jwks=[public_jwk(pki)])
        self._rewrite = rewrite
        self.server: RunningServer = serve(self, port=port)  # type: ignore[arg-type]

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """The emulator, with the metadata document rewritten when asked (an issuer that
        names a token endpoint elsewhere)."""
        if self._rewrite is None or not environ["PATH_INFO"].endswith("oauth-authorization-server"):
            return self.emu.wsgi(environ, start_response)
        body = json.loads(b"".join(self.emu.wsgi(environ, lambda *a: None)))
        data = json.dumps(self._rewrite(body)).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [data]

    def close(self) -> None:
        self.server.shutdown()
        self.emu.close()


@pytest.fixture
def served(pki: Pki) -> Iterator[Callable[..., _Served]]:
    made: list[_Served] = []

    def make(rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> _Served:
        made.append(_Served(pki, rewrite))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _project(root: Path, pki: Pki, served: _Served) -> Path:
    write_private(root / "admin-key.pem", key_pem(pki.other_key))
    (root / "selvsync.yaml").write_text(
        f'orgno: "{ORGNO}"\n'
        "environments:\n"
        "  test:\n"
        f"    api: {served.base}\n"
        f"    issuer: {served.issuer}\n"
        f"    auth: {{method: key, client_id: admin-key, kid: {KID}, "
        "private_key: admin-key.pem}\n"
    )
    (root / "environments").mkdir()
    (root / "environments" / "test.yaml").write_text("clients: {}\n")
    return root


class _Capture:
    """Every request any httpx client sends over the network, and every grant signed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.urls: list[str] = []
        self.signed: list[dict[str, Any]] = []
        real_send = httpx.HTTPTransport.handle_request
        real_encode = jwt.encode

        def send(transport: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            self.urls.append(str(request.url))
            if request.url.host not in ("127.0.0.1", "localhost"):
                # Off loopback, a stand-in token endpoint refuses every grant.
                return httpx.Response(
                    400, json={"error": "invalid_grant", "error_description": "stand-in"}
                )
            return real_send(transport, request)

        def encode(payload: dict[str, Any], *args: Any, **kwargs: Any) -> str:
            self.signed.append(dict(payload))
            return real_encode(payload, *args, **kwargs)

        monkeypatch.setattr(httpx.HTTPTransport, "handle_request", send)
        monkeypatch.setattr(jwt, "encode", encode)


def test_plan_discovers_the_token_endpoint_once_per_run(
    tmp_path: Path, pki: Pki, served: Callable[..., _Served], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digdir = served()
    project = _project(tmp_path, pki, digdir)
    capture = _Capture(monkeypatch)
    assert main(["plan", "-C", str(project)]) == 0, capsys.readouterr().err
    counters = digdir.emu.counters()
    assert counters[METADATA] == 1
    assert counters["POST /token"] == 1
    assert capture.urls[0] == metadata_url(digdir.issuer)
    assert f"{digdir.base}/token" in capture.urls
    # aud stays the issuer, not the discovered token URL.
    assert [claims["aud"] for claims in capture.signed] == [digdir.issuer]


def test_one_factory_reads_the_metadata_once_for_every_client(
    tmp_path: Path, pki: Pki, served: Callable[..., _Served]
) -> None:
    digdir = served()
    project = load_project(_project(tmp_path, pki, digdir))
    factory = connecting.default_factory(project, {})
    env = project.environments["test"]
    for command in ("plan", "apply"):
        with factory(env, command) as client:
            assert client.list_clients() == []
    assert digdir.emu.counters()[METADATA] == 1


def test_an_untrusted_discovered_endpoint_gets_no_grant(
    tmp_path: Path, pki: Pki, served: Callable[..., _Served], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digdir = served(lambda doc: {**doc, "token_endpoint": "https://evil.example.net/token"})
    project = _project(tmp_path, pki, digdir)
    capture = _Capture(monkeypatch)
    code = main(["plan", "-C", str(project)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "evil.example.net is not one of Digdir's hosts" in err
    assert "No grant was signed or sent to it" in err and "SELVSYNC_TRUSTED_HOSTS" in err
    assert capture.signed == []
    assert not [u for u in capture.urls if "evil.example.net" in u]
    assert digdir.emu.counters().get("POST /token", 0) == 0


def test_a_host_trusted_outside_the_repository_is_used(
    tmp_path: Path, pki: Pki, served: Callable[..., _Served], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digdir = served(lambda doc: {**doc, "token_endpoint": "https://mp.example.net/token"})
    project = _project(tmp_path, pki, digdir)
    monkeypatch.setenv("SELVSYNC_TRUSTED_HOSTS", "mp.example.net")
    capture = _Capture(monkeypatch)
    assert main(["plan", "-C", str(project)]) == 1
    # Trusted, so the grant went there (and the stand-in refused it).
    assert "https://mp.example.net/token" in capture.urls
    assert [claims["aud"] for claims in capture.signed] == [digdir.issuer]
    assert "Maskinporten (https://mp.example.net/token) refused" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rewrite", "message"),
    [
        (lambda doc: {**doc, "issuer": "https://other.example/"}, "not the configured issuer"),
        (lambda doc: {k: v for k, v in doc.items() if k != "token_endpoint"}, "no token_endpoint"),
        (lambda doc: {**doc, "token_endpoint": "http://mp.example.net/token"}, "plain http://"),
    ],
)
def test_unusable_metadata_is_refused_before_any_grant(
    pki: Pki, served: Callable[..., _Served], rewrite: Any, message: str
) -> None:
    digdir = served(rewrite)
    with pytest.raises(DiscoveryError) as caught:
        discover_token_endpoint(digdir.issuer, untrusted=untrusted_reason)
    assert message in str(caught.value)
    assert caught.value.exit_code == 1
    assert digdir.emu.counters().get("POST /token", 0) == 0


def test_the_cache_asks_once_per_issuer() -> None:
    asked: list[str] = []

    def fetch(issuer: str, **_: Any) -> str:
        asked.append(issuer)
        return issuer + "token"

    endpoints = TokenEndpoints(fetch)
    assert endpoints("https://a/") == endpoints("https://a/") == "https://a/token"
    assert endpoints("https://b/") == "https://b/token"
    assert asked == ["https://a/", "https://b/"]


def test_metadata_url_follows_the_issuer() -> None:
    assert metadata_url("https://test.maskinporten.no/") == (
        "https://test.maskinporten.no/.well-known/oauth-authorization-server"
    )
    assert metadata_url("https://x.example/mp") == (
        "https://x.example/mp/.well-known/oauth-authorization-server"
    )
