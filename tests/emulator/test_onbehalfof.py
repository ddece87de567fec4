"""onbehalfof entries on ID-porten login clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from selvsync.emulator import Emulator

from .conftest import client_for
from .helpers import API, ORG, OTHER_ORG, create, field_errors, idporten, maskinporten

ENTRY: dict[str, Any] = {"onbehalfof": "leikanger", "orgno": OTHER_ORG,
                         "name": "Leikanger kommune", "client_uri": "https://leikanger.example.no",
                         "logo_uri": "https://leikanger.example.no/logo.png",
                         "description": "Kunde 1"}


def entries_path(client: dict[str, Any], obo: str | None = None) -> str:
    path = f"{API}/clients/{client['client_id']}/onbehalfof"
    return path if obo is None else f"{path}/{obo}"


@pytest.fixture
def login(http: httpx.Client) -> dict[str, Any]:
    return create(http, idporten())


def test_create_list_and_read_entries(http: httpx.Client, login: dict[str, Any]) -> None:
    created = http.post(entries_path(login), json=ENTRY)
    assert created.status_code == 201, created.text
    assert created.json() == ENTRY
    assert http.get(entries_path(login)).json() == [ENTRY]
    assert http.get(entries_path(login, "leikanger")).json() == ENTRY
    assert http.get(f"{API}/clients/{login['client_id']}").json()["onbehalfof"] == [ENTRY]
    assert http.get(f"{API}/clients").json()[0]["onbehalfof"] == [ENTRY]
    assert http.get(entries_path(login, "nope")).status_code == 404


def test_client_without_entries_has_no_onbehalfof_field(http: httpx.Client,
                                                        login: dict[str, Any]) -> None:
    assert "onbehalfof" not in login
    assert http.get(entries_path(login)).json() == []


def test_both_spellings_are_accepted(http: httpx.Client, login: dict[str, Any]) -> None:
    other = {"onbehalfof": "sogndal", "orgno": OTHER_ORG, "display_name": "Sogndal",
             "url": "https://sogndal.example.no"}
    created = http.post(entries_path(login), json=other)
    assert created.status_code == 201, created.text
    assert created.json() == {"onbehalfof": "sogndal", "orgno": OTHER_ORG, "name": "Sogndal",
                              "client_uri": "https://sogndal.example.no"}
    clash = http.post(entries_path(login), json={**ENTRY, "display_name": "Noe annet"})
    assert clash.status_code == 400 and field_errors(clash) == {"name"}


def test_the_answered_spelling_is_an_option(make_emulator: Any) -> None:
    emu = make_emulator(onbehalfof_spelling="display_name")
    with client_for(emu) as http:
        client = create(http, idporten())
        created = http.post(entries_path(client), json=ENTRY).json()
    assert created["display_name"] == "Leikanger kommune"
    assert created["url"] == ENTRY["client_uri"]
    assert "name" not in created and "client_uri" not in created


@pytest.mark.parametrize(("overrides", "field"), [
    ({"orgno": "123456789"}, "orgno"),
    ({"onbehalfof": "med mellomrom"}, "onbehalfof"),
    ({"name": " "}, "name"),
    ({"client_uri": "http://leikanger.example.no"}, "client_uri"),
    ({"logo_uri": "logo.png"}, "logo_uri"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_entries_are_400(http: httpx.Client, login: dict[str, Any],
                             overrides: dict[str, Any], field: str) -> None:
    response = http.post(entries_path(login), json={**ENTRY, **overrides})
    assert response.status_code == 400 and field in field_errors(response)


def test_only_id_porten_login_clients(http: httpx.Client) -> None:
    machine = create(http, maskinporten())
    response = http.post(entries_path(machine), json=ENTRY)
    assert response.status_code == 400 and field_errors(response) == {"integration_type"}
    klient = create(http, idporten(integration_type="api_klient"))
    assert http.post(entries_path(klient), json=ENTRY).status_code == 201


def test_another_organisations_client_is_403(login: dict[str, Any],
                                             other: httpx.Client) -> None:
    for response in (other.post(entries_path(login), json=ENTRY),
                     other.get(entries_path(login)),
                     other.put(entries_path(login, "leikanger"), json=ENTRY),
                     other.delete(entries_path(login, "leikanger"))):
        assert response.status_code == 403, response.text


def test_put_replaces_and_delete_removes(http: httpx.Client, login: dict[str, Any]) -> None:
    http.post(entries_path(login), json=ENTRY)
    assert http.post(entries_path(login), json=ENTRY).status_code == 409
    path = entries_path(login, "leikanger")
    replaced = http.put(path, json={"orgno": OTHER_ORG, "name": "Ny"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {"onbehalfof": "leikanger", "orgno": OTHER_ORG, "name": "Ny"}
    moved = http.put(path, json={**ENTRY, "onbehalfof": "annen"})
    assert moved.status_code == 400 and field_errors(moved) == {"onbehalfof"}
    assert http.put(entries_path(login, "nope"), json=ENTRY).status_code == 404
    assert http.delete(path).status_code == 200
    assert http.get(path).status_code == 404
    assert "onbehalfof" not in http.get(f"{API}/clients/{login['client_id']}").json()


@pytest.mark.parametrize(("scopes", "method", "status"), [
    (["idporten:dcr/onbehalfof:write"], "POST", 201),
    (["idporten:dcr.write"], "POST", 201),
    (["idporten:dcr.read"], "POST", 403),
    (["idporten:dcr.modify"], "POST", 403),
    (["idporten:dcr.read"], "GET", 200),
    (["idporten:dcr/onbehalfof:write"], "GET", 200),
])
def test_scopes(emu: Emulator, login: dict[str, Any], scopes: list[str], method: str,
                status: int) -> None:
    emu.add_token("limited", ORG, scopes)
    with client_for(emu, "limited") as limited:
        response = limited.request(method, entries_path(login),
                                   json=ENTRY if method == "POST" else None)
    assert response.status_code == status, response.text


def test_putting_a_client_back_with_its_entries_keeps_them(http: httpx.Client,
                                                           login: dict[str, Any]) -> None:
    http.post(entries_path(login), json=ENTRY)
    client = http.get(f"{API}/clients/{login['client_id']}").json()
    updated = http.put(f"{API}/clients/{login['client_id']}",
                       json={**client, "client_name": "Nytt navn", "onbehalfof": []})
    assert updated.status_code == 200, updated.text
    assert updated.json()["onbehalfof"] == [ENTRY]


def test_deactivated_client_refuses_writes(http: httpx.Client, login: dict[str, Any]) -> None:
    http.delete(f"{API}/clients/{login['client_id']}")
    assert http.post(entries_path(login), json=ENTRY).status_code == 409
    assert http.get(entries_path(login)).status_code == 404
    assert http.get(entries_path(login), params={"inactive": "true"}).json() == []


def test_counted_and_saved(emu: Emulator, http: httpx.Client, login: dict[str, Any],
                          tmp_path: Path) -> None:
    http.post(entries_path(login), json=ENTRY)
    http.get(entries_path(login, "leikanger"))
    assert emu.counters()["POST /clients/{id}/onbehalfof"] == 1
    assert emu.counters()["GET /clients/{id}/onbehalfof/{obo}"] == 1
    emu.save(tmp_path / "saved.sqlite")
    copy = Emulator(tmp_path / "saved.sqlite")
    try:
        copy.add_token("full", ORG)
        with client_for(copy) as again:
            assert again.get(entries_path(login)).json() == [ENTRY]
    finally:
        copy.close()
