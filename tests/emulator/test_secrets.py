"""Client secrets: issued once on create and on rotation, never shown again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from selvsync.emulator import Emulator

from .conftest import CANARY, SecretFactory, client_for
from .helpers import API, create, field_errors, idporten


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_secret_is_returned_on_create_only(http: httpx.Client, secrets_issued: SecretFactory,
                                           method: str) -> None:
    client = create(http, idporten(token_endpoint_auth_method=method))
    assert client["client_secret"] == secrets_issued.issued[0]
    path = f"{API}/clients/{client['client_id']}"
    later = [http.get(path), http.get(f"{API}/clients"), http.put(path, json=idporten(
        token_endpoint_auth_method=method)), http.get(f"{path}/jwks"), http.delete(path),
        http.get(f"{API}/clients", params={"inactive": "true"})]
    for response in later:
        assert CANARY not in response.text


def test_private_key_jwt_clients_get_no_secret(http: httpx.Client,
                                               secrets_issued: SecretFactory) -> None:
    client = create(http, idporten(token_endpoint_auth_method="private_key_jwt"))
    assert "client_secret" not in client and secrets_issued.issued == []
    rotate = http.post(f"{API}/clients/{client['client_id']}/secret")
    assert rotate.status_code == 400
    assert field_errors(rotate) == {"token_endpoint_auth_method"}


def test_rotation_returns_a_new_secret(http: httpx.Client) -> None:
    client = create(http, idporten(token_endpoint_auth_method="client_secret_post"))
    rotated = http.post(f"{API}/clients/{client['client_id']}/secret")
    assert rotated.status_code == 200
    assert rotated.json() == {"client_secret": f"{CANARY}1"}
    after = http.get(f"{API}/clients/{client['client_id']}").json()
    assert after["last_updated"] > client["last_updated"]
    assert CANARY not in str(after)


def test_switching_away_from_a_secret_method_deletes_it(emu: Emulator,
                                                        http: httpx.Client) -> None:
    client = create(http, idporten(token_endpoint_auth_method="client_secret_basic"))
    path = f"{API}/clients/{client['client_id']}"
    assert emu.store.get_client(client["client_id"]).has_secret  # type: ignore[union-attr]
    assert http.put(path, json=idporten(token_endpoint_auth_method="private_key_jwt")
                    ).status_code == 200
    assert not emu.store.get_client(client["client_id"]).has_secret  # type: ignore[union-attr]
    back = http.put(path, json=idporten(token_endpoint_auth_method="client_secret_basic"))
    assert back.status_code == 200 and "client_secret" not in back.json()
    assert not emu.store.get_client(client["client_id"]).has_secret  # type: ignore[union-attr]
    assert http.post(f"{path}/secret").status_code == 200
    assert emu.store.get_client(client["client_id"]).has_secret  # type: ignore[union-attr]


def test_secrets_are_not_stored_in_clear(tmp_path: Path, make_emulator: Any) -> None:
    db = tmp_path / "emu.db"
    with client_for(make_emulator(db=db)) as http:
        create(http, idporten(token_endpoint_auth_method="client_secret_basic"))
    assert CANARY.encode() not in db.read_bytes()
