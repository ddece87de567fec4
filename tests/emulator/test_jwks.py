"""Client key sets: whole-set replacement and Digdir's key rules."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from .helpers import API, T0, FakeClock, b64url_uint, create, maskinporten, public_jwk

YEAR = 365 * 24 * 3600


@pytest.fixture
def client_path(http: httpx.Client) -> str:
    return f"{API}/clients/{create(http, maskinporten())['client_id']}/jwks"


def test_client_without_keys_has_an_empty_set(http: httpx.Client, client_path: str) -> None:
    response = http.get(client_path)
    assert response.status_code == 200 and response.json() == {"keys": []}


def test_post_replaces_the_set_and_sets_exp(http: httpx.Client, client_path: str,
                                            rsa_keys: list[rsa.RSAPrivateKey],
                                            clock: FakeClock) -> None:
    first = public_jwk(rsa_keys[0], "key-1")
    posted = http.post(client_path, json={"keys": [first]})
    assert posted.status_code == 201
    body = posted.json()
    assert body["keys"] == [{**first, "exp": int(T0) + YEAR}]
    assert body["created"] == body["last_updated"] == "2023-11-14T23:13:20.000+01:00"
    clock.advance(100)
    second = public_jwk(rsa_keys[1], "key-2", alg="RS512")
    replaced = http.put(client_path, json={"keys": [first, second]})
    assert replaced.status_code == 200
    assert [k["kid"] for k in replaced.json()["keys"]] == ["key-1", "key-2"]
    # key-1 keeps the exp of its first post; only the new key-2 gets a year from now.
    assert [k["exp"] for k in replaced.json()["keys"]] == [int(T0) + YEAR,
                                                          int(T0) + 100 + YEAR]
    only_second = http.post(client_path, json={"keys": [second]}).json()
    assert [k["kid"] for k in only_second["keys"]] == ["key-2"]
    got = http.get(client_path).json()
    assert got["keys"] == only_second["keys"]
    assert got["created"] == body["created"] and got["last_updated"] > body["last_updated"]


def test_delete_removes_all_keys(http: httpx.Client, client_path: str,
                                 rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    http.post(client_path, json={"keys": [public_jwk(rsa_keys[0], "k")]})
    deleted = http.delete(client_path)
    assert deleted.status_code == 200
    assert http.get(client_path).json() == {"keys": []}


def _bad(key: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = {**key, **changes}
    return {k: v for k, v in result.items() if v is not None}


@pytest.mark.parametrize("change", [
    {"kty": "EC"}, {"alg": "ES256"}, {"alg": "none"}, {"use": None}, {"use": "enc"},
    {"kid": None}, {"kid": "has space"}, {"kid": "slash/kid"}, {"e": None}, {"n": None},
    {"n": "not base64!"}, {"colour": "blue"},
], ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_key_rules(http: httpx.Client, client_path: str, rsa_keys: list[rsa.RSAPrivateKey],
                   change: dict[str, Any]) -> None:
    key = _bad(public_jwk(rsa_keys[0], "key-1"), **change)
    response = http.post(client_path, json={"keys": [key]})
    assert response.status_code == 400, response.text
    assert http.get(client_path).json() == {"keys": []}


def test_small_rsa_keys_are_rejected(http: httpx.Client, client_path: str,
                                     rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    key = public_jwk(rsa_keys[0], "small")
    key["n"] = b64url_uint((1 << 1023) + 1)  # 1024 bits
    response = http.post(client_path, json={"keys": [key]})
    assert response.status_code == 400 and "2048" in response.text


def test_private_parts_are_rejected_and_never_echoed(http: httpx.Client, client_path: str,
                                                     rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    numbers = rsa_keys[0].private_numbers()
    key = public_jwk(rsa_keys[0], "leaky")
    key.update({"d": b64url_uint(numbers.d), "p": b64url_uint(numbers.p),
                "q": b64url_uint(numbers.q), "dp": b64url_uint(numbers.dmp1),
                "dq": b64url_uint(numbers.dmq1), "qi": b64url_uint(numbers.iqmp)})
    response = http.post(client_path, json={"keys": [key]})
    assert response.status_code == 400
    for member in ("d", "p", "q", "dp", "dq", "qi"):
        assert key[member] not in response.text
    assert "private" in response.text


def test_empty_and_oversized_sets_are_rejected(http: httpx.Client, client_path: str,
                                               rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    assert http.post(client_path, json={"keys": []}).status_code == 400
    assert http.post(client_path, json={}).status_code == 400
    six = [public_jwk(rsa_keys[i % 4], f"k{i}") for i in range(6)]
    too_many = http.post(client_path, json={"keys": six})
    assert too_many.status_code == 400 and "at most 5" in too_many.text
    assert http.post(client_path, json={"keys": six[:5]}).status_code == 201


def test_kid_repeated_in_one_set_is_rejected(http: httpx.Client, client_path: str,
                                             rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    keys = [public_jwk(rsa_keys[0], "same"), public_jwk(rsa_keys[1], "same")]
    assert http.post(client_path, json={"keys": keys}).status_code == 400


def test_kid_is_unique_across_all_clients_and_orgs(http: httpx.Client, other: httpx.Client,
                                                   client_path: str,
                                                   rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    key = public_jwk(rsa_keys[0], "shared-kid")
    assert http.post(client_path, json={"keys": [key]}).status_code == 201
    assert http.put(client_path, json={"keys": [key]}).status_code == 200, "own kid is fine"
    theirs = f"{API}/clients/{create(other, maskinporten())['client_id']}/jwks"
    clash = other.post(theirs, json={"keys": [public_jwk(rsa_keys[1], "shared-kid")]})
    assert clash.status_code == 400 and "shared-kid" in clash.text
    http.delete(client_path)
    freed = other.post(theirs, json={"keys": [public_jwk(rsa_keys[1], "shared-kid")]})
    assert freed.status_code == 201


def test_deactivated_client_keeps_its_kids(http: httpx.Client, client_path: str,
                                           rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    http.post(client_path, json={"keys": [public_jwk(rsa_keys[0], "kept")]})
    http.delete(client_path.removesuffix("/jwks"))
    fresh = f"{API}/clients/{create(http, maskinporten())['client_id']}/jwks"
    assert http.post(fresh, json={"keys": [public_jwk(rsa_keys[0], "kept")]}).status_code == 400
    inactive = http.get(client_path, params={"inactive": "true"})
    assert [k["kid"] for k in inactive.json()["keys"]] == ["kept"]
    assert http.get(client_path).status_code == 404
