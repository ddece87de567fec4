"""Units of the fidelity work: shape faults, their validation and how they are counted."""

from __future__ import annotations

import httpx
import pytest

from selvsync.emulator import Emulator, Fault

from .helpers import API, idporten, maskinporten


def test_shape_faults_validate_their_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        Fault.from_json({"kind": "error_shape", "shape": "html"})
    assert Fault.from_json({"kind": "error_shape"}).shape == "messages"
    with pytest.raises(ValueError, match="error_shape"):
        Emulator(error_shape="html")  # type: ignore[arg-type]


def test_an_error_shape_fault_counts_only_error_answers(emu: Emulator,
                                                       http: httpx.Client) -> None:
    fault = emu.faults.add("error_shape", shape="plain", times=1)
    assert http.post(f"{API}/clients", json=maskinporten()).status_code == 201
    assert fault in emu.faults.active()
    refused = http.post(f"{API}/clients", json=idporten(redirect_uris=[]))
    assert refused.headers["content-type"].startswith("text/plain")
    assert emu.faults.active() == []


def test_error_shape_leaves_token_endpoint_errors_and_status_bodies_alone(
        emu: Emulator, http: httpx.Client) -> None:
    emu.faults.add("error_shape", shape="plain")
    token = http.post("/token", data={"grant_type": "password"})
    assert token.json()["error"] == "unsupported_grant_type"
    emu.faults.add("status", status=502, body="<html>Bad gateway</html>", times=1)
    assert http.get(f"{API}/clients").text == "<html>Bad gateway</html>"


def test_shape_faults_over_the_control_surface(emu: Emulator, http: httpx.Client) -> None:
    added = http.post("/_emulator/faults", json=[{"kind": "keyless_jwks"},
                                                 {"kind": "error_shape", "shape": "modern"}])
    assert added.status_code == 201 and [f["kind"] for f in added.json()] == [
        "keyless_jwks", "error_shape"]
    client = http.post(f"{API}/clients", json=maskinporten()).json()
    assert http.get(f"{API}/clients/{client['client_id']}/jwks").json() == {}


def test_metadata_and_key_set_endpoints_are_get_only_and_counted(emu: Emulator,
                                                                 http: httpx.Client) -> None:
    assert http.get("/.well-known/oauth-authorization-server/").status_code == 200
    refused = http.post("/.well-known/oauth-authorization-server")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET"
    assert http.get("/jwk").json() == {"keys": []}
    assert http.get("/token").headers["allow"] == "POST"
    assert emu.counters()["GET /.well-known/oauth-authorization-server/"] == 1
