"""digdir-api.md, Keys (JWKS), and fidelity items 2 and 6: expiry per key, keyless sets."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from .conftest import YEAR, Digdir, MakeDigdir, maskinporten, public_jwk


@pytest.fixture
def jwks_path(digdir: Digdir) -> str:
    return f"/clients/{digdir.create(maskinporten())['client_id']}/jwks"


def test_posting_a_key_set_answers_201_and_get_returns_keys_created_last_updated(
        digdir: Digdir, jwks_path: str, keys: list[rsa.RSAPrivateKey]) -> None:
    # The shape digdirator reads (JwksResponse: created, last_updated + a JSON Web Key Set).
    posted = digdir.api.post(jwks_path, json={"keys": [public_jwk(keys[1], "k1")]})
    assert posted.status_code == 201
    got = digdir.api.get(jwks_path)
    assert got.status_code == 200 and set(got.json()) == {"keys", "created", "last_updated"}
    assert [k["kid"] for k in got.json()["keys"]] == ["k1"]


def test_posting_replaces_the_whole_set(digdir: Digdir, jwks_path: str,
                                        keys: list[rsa.RSAPrivateKey]) -> None:
    digdir.api.post(jwks_path, json={"keys": [public_jwk(keys[1], "k1")]})
    digdir.api.put(jwks_path, json={"keys": [public_jwk(keys[2], "k2")]})
    assert [k["kid"] for k in digdir.api.get(jwks_path).json()["keys"]] == ["k2"]


def test_an_empty_key_set_is_refused_and_delete_removes_all_keys(
        digdir: Digdir, jwks_path: str, keys: list[rsa.RSAPrivateKey]) -> None:
    assert digdir.api.post(jwks_path, json={"keys": []}).status_code == 400
    digdir.api.post(jwks_path, json={"keys": [public_jwk(keys[1], "k1")]})
    assert digdir.api.delete(jwks_path).status_code == 200
    assert digdir.api.get(jwks_path).json() == {"keys": []}


def test_at_most_five_keys(digdir: Digdir, jwks_path: str,
                           keys: list[rsa.RSAPrivateKey]) -> None:
    five = [public_jwk(keys[1], f"k{i}") for i in range(5)]
    assert digdir.api.post(jwks_path, json={"keys": five}).status_code == 201
    six = [*five, public_jwk(keys[2], "k5")]
    assert digdir.api.post(jwks_path, json={"keys": six}).status_code == 400


def test_rsa_keys_need_2048_bits(digdir: Digdir, jwks_path: str) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    response = digdir.api.post(jwks_path, json={"keys": [public_jwk(small, "small")]})
    assert response.status_code == 400 and "2048" in response.json()["error_description"]


def test_use_is_required(digdir: Digdir, jwks_path: str,
                         keys: list[rsa.RSAPrivateKey]) -> None:
    key = public_jwk(keys[1], "k1")
    del key["use"]
    assert digdir.api.post(jwks_path, json={"keys": [key]}).status_code == 400


@pytest.mark.parametrize("kid", ["with space", "slash/kid", "", "æøå"])
def test_kid_is_letters_digits_dot_underscore_dash(digdir: Digdir, jwks_path: str,
                                                   keys: list[rsa.RSAPrivateKey],
                                                   kid: str) -> None:
    assert digdir.api.post(jwks_path, json={"keys": [public_jwk(keys[1], kid)]}
                           ).status_code == 400


def test_kid_is_unique_across_clients(digdir: Digdir, jwks_path: str,
                                      keys: list[rsa.RSAPrivateKey]) -> None:
    digdir.api.post(jwks_path, json={"keys": [public_jwk(keys[1], "Ab.1_2-3")]})
    other = f"/clients/{digdir.create(maskinporten())['client_id']}/jwks"
    refused = digdir.api.post(other, json={"keys": [public_jwk(keys[2], "Ab.1_2-3")]})
    assert refused.status_code == 400 and "Ab.1_2-3" in refused.json()["error_description"]


def test_private_key_members_are_refused(digdir: Digdir, jwks_path: str,
                                         keys: list[rsa.RSAPrivateKey]) -> None:
    key = public_jwk(keys[1], "k1", d="c2VjcmV0")
    response = digdir.api.post(jwks_path, json={"keys": [key]})
    assert response.status_code == 400 and "c2VjcmV0" not in response.text


def _exps(digdir: Digdir, path: str) -> dict[str, Any]:
    return {k["kid"]: k["exp"] for k in digdir.api.get(path).json()["keys"]}


def test_a_new_key_expires_one_year_after_it_is_first_posted(
        digdir: Digdir, jwks_path: str, keys: list[rsa.RSAPrivateKey]) -> None:
    digdir.api.post(jwks_path, json={"keys": [public_jwk(keys[1], "k1")]})
    assert _exps(digdir, jwks_path) == {"k1": int(digdir.clock.now) + YEAR}


def test_reposting_a_registered_key_does_not_renew_its_exp(
        digdir: Digdir, jwks_path: str, keys: list[rsa.RSAPrivateKey]) -> None:
    start = int(digdir.clock.now)
    old = public_jwk(keys[1], "old")
    digdir.api.post(jwks_path, json={"keys": [old]})
    digdir.clock.now += 30 * 24 * 3600
    # Rotation with overlap: send the old key with the new one.
    digdir.api.post(jwks_path, json={"keys": [old, public_jwk(keys[2], "new")]})
    assert _exps(digdir, jwks_path) == {"old": start + YEAR,
                                        "new": int(digdir.clock.now) + YEAR}


def test_a_posted_shorter_exp_is_kept_and_a_longer_one_capped_at_a_year(
        digdir: Digdir, jwks_path: str, keys: list[rsa.RSAPrivateKey]) -> None:
    now = int(digdir.clock.now)
    short = public_jwk(keys[1], "short", exp=now + 90 * 24 * 3600)
    long = public_jwk(keys[2], "long", exp=now + 3 * YEAR)
    digdir.api.post(jwks_path, json={"keys": [short, long]})
    assert _exps(digdir, jwks_path) == {"short": now + 90 * 24 * 3600, "long": now + YEAR}
    digdir.clock.now += 10
    digdir.api.post(jwks_path, json={"keys": [{**short, "exp": now + YEAR}]})
    assert _exps(digdir, jwks_path) == {"short": now + 90 * 24 * 3600}


def test_same_kid_with_new_key_material_is_a_new_key(
        digdir: Digdir, jwks_path: str, keys: list[rsa.RSAPrivateKey]) -> None:
    digdir.api.post(jwks_path, json={"keys": [public_jwk(keys[1], "k")]})
    digdir.clock.now += 100
    digdir.api.post(jwks_path, json={"keys": [public_jwk(keys[2], "k")]})
    assert _exps(digdir, jwks_path) == {"k": int(digdir.clock.now) + YEAR}


def test_a_keyless_client_answers_keys_empty_by_default(digdir: Digdir,
                                                        jwks_path: str) -> None:
    response = digdir.api.get(jwks_path)
    assert response.status_code == 200 and response.json() == {"keys": []}


def test_a_keyless_client_can_answer_an_empty_object(digdir: Digdir, jwks_path: str,
                                                     keys: list[rsa.RSAPrivateKey]) -> None:
    digdir.emu.faults.add("keyless_jwks", method="GET", path="*/jwks", times=1)
    assert digdir.api.get(jwks_path).json() == {}
    assert digdir.api.get(jwks_path).json() == {"keys": []}  # the fault was used up


def test_the_keyless_option_answers_an_empty_object_only_without_keys(
        make_digdir: MakeDigdir, keys: list[rsa.RSAPrivateKey]) -> None:
    digdir = make_digdir(keyless_jwks="empty")
    path = f"/clients/{digdir.create(maskinporten())['client_id']}/jwks"
    assert digdir.api.get(path).json() == {}
    digdir.api.post(path, json={"keys": [public_jwk(keys[1], "k1")]})
    assert [k["kid"] for k in digdir.api.get(path).json()["keys"]] == ["k1"]
