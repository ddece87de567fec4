"""digdir-api.md, Endpoints: statuses, listing, deactivation, secrets, prefixes, old paths."""

from __future__ import annotations

import ssl
import uuid

import httpx
import pytest

from .conftest import ORG, Digdir, MakeDigdir, idporten, maskinporten


def test_post_clients_answers_201_with_the_full_client_and_a_server_assigned_uuid(
        digdir: Digdir) -> None:
    response = digdir.api.post("/clients", json=maskinporten())
    assert response.status_code == 201
    client = response.json()
    assert uuid.UUID(client["client_id"]).version == 4
    assert client["client_orgno"] == ORG and client["active"] is True
    assert client["scopes"] == ["skatteetaten:testscope"]
    assert client["jwks_uri"].endswith(f"/clients/{client['client_id']}/jwks")


def test_post_is_not_idempotent_two_posts_make_two_clients(digdir: Digdir) -> None:
    first, second = digdir.create(maskinporten()), digdir.create(maskinporten())
    assert first["client_id"] != second["client_id"]
    assert len(digdir.api.get("/clients").json()) == 2


def test_get_clients_lists_active_clients_and_inactive_true_adds_deactivated_ones(
        digdir: Digdir) -> None:
    kept, gone = digdir.create(maskinporten()), digdir.create(maskinporten())
    assert digdir.api.delete(f"/clients/{gone['client_id']}").status_code == 200
    listed = digdir.api.get("/clients")
    assert listed.status_code == 200
    assert [c["client_id"] for c in listed.json()] == [kept["client_id"]]
    everything = digdir.api.get("/clients", params={"inactive": "true"}).json()
    assert {c["client_id"]: c["active"] for c in everything} == {
        kept["client_id"]: True, gone["client_id"]: False}


def test_get_client_by_id_answers_200_and_inactive_true_reads_a_deactivated_one(
        digdir: Digdir) -> None:
    client = digdir.create(maskinporten())
    path = f"/clients/{client['client_id']}"
    assert digdir.api.get(path).json() == client
    digdir.api.delete(path)
    assert digdir.api.get(path).status_code == 404
    inactive = digdir.api.get(path, params={"inactive": "true"})
    assert inactive.status_code == 200 and inactive.json()["active"] is False


def test_put_answers_200_with_the_full_client(digdir: Digdir) -> None:
    client = digdir.create(maskinporten())
    response = digdir.api.put(f"/clients/{client['client_id']}",
                              json=maskinporten(client_name="renamed"))
    assert response.status_code == 200
    assert response.json()["client_name"] == "renamed"
    assert response.json()["client_id"] == client["client_id"]


def test_delete_deactivates_keeps_the_id_and_a_post_recreating_it_gets_409(
        digdir: Digdir) -> None:
    client = digdir.create(maskinporten())
    assert digdir.api.delete(f"/clients/{client['client_id']}").status_code == 200
    again = digdir.api.post("/clients", json={**maskinporten(), "client_id": client["client_id"]})
    assert again.status_code == 409
    assert digdir.api.put(f"/clients/{client['client_id']}",
                          json=maskinporten()).status_code == 409


def test_client_secret_is_returned_only_on_create_and_on_rotation(digdir: Digdir) -> None:
    created = digdir.create(idporten(token_endpoint_auth_method="client_secret_basic"))
    assert created["client_secret"]
    path = f"/clients/{created['client_id']}"
    assert "client_secret" not in digdir.api.get(path).json()
    assert all("client_secret" not in c for c in digdir.api.get("/clients").json())
    rotated = digdir.api.post(f"{path}/secret")
    assert rotated.status_code == 200
    assert rotated.json()["client_secret"] not in ("", created["client_secret"])
    put = digdir.api.put(path, json=idporten(token_endpoint_auth_method="client_secret_basic"))
    assert "client_secret" not in put.json()


def test_secret_rotation_is_only_for_client_secret_clients(digdir: Digdir) -> None:
    client = digdir.create(idporten())
    assert digdir.api.post(f"/clients/{client['client_id']}/secret").status_code == 400


@pytest.mark.parametrize("prefix", ["/api/v1", "/external/api/v1", ""])
def test_the_path_prefix_is_configurable(make_digdir: MakeDigdir, prefix: str) -> None:
    digdir = make_digdir(prefix)
    client = digdir.create(maskinporten())
    url = f"{digdir.server.url}{prefix}/clients/{client['client_id']}"
    assert client["jwks_uri"] == f"{url}/jwks"
    assert digdir.api.get(f"/clients/{client['client_id']}").status_code == 200


def test_old_unprefixed_paths_with_a_trailing_slash_work(make_digdir: MakeDigdir,
                                                        tls: ssl.SSLContext) -> None:
    # okdata-maskinporten-api calls f"{base}/clients/" + path with base
    # "https://integrasjon.difi.no/clients/": POST/GET ".../clients/", GET ".../clients/{id}".
    digdir = make_digdir("")
    base = f"{digdir.server.url}/clients/"
    with httpx.Client(headers={"Authorization": "Bearer conformance"}, verify=tls) as http:
        created = http.post(base, json=maskinporten(),
                            headers={"Accept": "*/*", "Content-Type": "application/json"})
        assert created.status_code == 201
        client_id = created.json()["client_id"]
        assert [c["client_id"] for c in http.get(base).json()] == [client_id]
        assert http.get(f"{base}{client_id}").status_code == 200
        assert http.get(f"{base}{client_id}/jwks/").status_code == 200


def test_a_trailing_slash_also_works_under_the_configured_prefix(digdir: Digdir) -> None:
    created = digdir.api.post("/clients/", json=maskinporten())
    assert created.status_code == 201
    assert len(digdir.api.get("/clients/").json()) == 1
    client_id = created.json()["client_id"]
    assert digdir.api.get(f"/clients/{client_id}/").json()["client_id"] == client_id
    assert digdir.api.get("/clients//").status_code == 404
