"""emu.save(): the state written in one emulator is served by another opened on the file."""

from __future__ import annotations

from pathlib import Path

import httpx

from selvsync.emulator import Emulator

TOKEN = "save-test-token"
ORGNO = "991825827"


def _http(emu: Emulator) -> httpx.Client:
    return httpx.Client(
        transport=emu.transport(),
        base_url="http://emulator.invalid",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def test_saved_state_is_served_by_an_emulator_on_the_file(tmp_path: Path) -> None:
    first = Emulator(":memory:")
    first.add_token(TOKEN, ORGNO)
    body = {
        "integration_type": "maskinporten",
        "client_name": "Saved",
        "description": "kept across processes",
        "token_endpoint_auth_method": "private_key_jwt",
        "scopes": ["bench:api.read"],
    }
    with _http(first) as http:
        created = http.post("/api/v1/clients", json=body)
        assert created.status_code == 201, created.text
    path = tmp_path / "saved.db"
    first.save(path)
    first.close()

    second = Emulator(path)
    second.add_token(TOKEN, ORGNO)  # tokens are configuration, not state
    with _http(second) as http:
        listed = http.get("/api/v1/clients").json()
    second.close()
    assert [(c["client_id"], c["client_name"]) for c in listed] == [
        (created.json()["client_id"], "Saved")
    ]
