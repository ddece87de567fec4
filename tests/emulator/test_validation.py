"""Digdir's combination table, case by case, over raw HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from selvsync.emulator import Emulator

from .helpers import API, JWT_BEARER, field_errors, idporten, maskinporten

LOGIN_TYPES = ["idporten", "api_klient", "ansattporten"]
PUBLIC = {"token_endpoint_auth_method": "none", "code_challenge_method": "S256"}

ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    *[(f"{kind} web {method}", idporten(integration_type=kind, token_endpoint_auth_method=method))
      for kind in LOGIN_TYPES
      for method in ("client_secret_basic", "client_secret_post", "private_key_jwt")],
    *[(f"{kind} {app}", idporten(integration_type=kind, application_type=app, **PUBLIC))
      for kind in LOGIN_TYPES for app in ("browser", "native")],
    ("idporten eidas no_pid", idporten(scopes=["eidas", "no_pid"])),
    ("api_klient extra scope", idporten(integration_type="api_klient", scopes=["x:y"])),
    ("ansattporten extra scope", idporten(integration_type="ansattporten", scopes=["a:b"])),
    ("native custom scheme", idporten(application_type="native",
                                      redirect_uris=["no.example.app:/callback"], **PUBLIC)),
    ("localhost over http", idporten(redirect_uris=["http://localhost:8080/cb"])),
    ("web login without pkce", idporten(code_challenge_method="none")),
    ("frontchannel logout on a sibling host",
     idporten(frontchannel_logout_uri="https://logout.example.no/fc")),
    ("maskinporten", maskinporten()),
    ("krr explicit scopes", maskinporten(integration_type="krr",
                                         scopes=["krr:global/digitalpost.read"])),
]

REJECTED: list[tuple[str, dict[str, Any], set[str]]] = [
    ("no integration_type", idporten(integration_type=None), {"integration_type"}),
    ("eformidling", idporten(integration_type="eformidling"), {"integration_type"}),
    ("unknown application_type", idporten(application_type="desktop"), {"application_type"}),
    ("missing client_name", idporten(client_name=None), {"client_name"}),
    ("missing description", idporten(description=None), {"description"}),
    ("web login with none", idporten(token_endpoint_auth_method="none"),
     {"token_endpoint_auth_method"}),
    ("browser with a secret", idporten(application_type="browser",
                                       token_endpoint_auth_method="client_secret_basic"),
     {"token_endpoint_auth_method"}),
    ("native without pkce", idporten(application_type="native", token_endpoint_auth_method="none",
                                     code_challenge_method="none"), {"code_challenge_method"}),
    ("implicit grant", idporten(grant_types=["authorization_code", "implicit"]), {"grant_types"}),
    ("password grant", idporten(grant_types=["password"]), {"grant_types"}),
    ("client_credentials grant", maskinporten(grant_types=["client_credentials"]),
     {"grant_types"}),
    ("jwt-bearer on a login client", idporten(grant_types=[JWT_BEARER]), {"grant_types"}),
    ("login without redirect_uris", idporten(redirect_uris=[]), {"redirect_uris"}),
    ("login without post_logout_redirect_uris", idporten(post_logout_redirect_uris=None),
     {"post_logout_redirect_uris"}),
    ("idporten with a foreign scope", idporten(scopes=["skatteetaten:x"]), {"scopes"}),
    ("redirect over plain http", idporten(redirect_uris=["http://example.no/cb"]),
     {"redirect_uris"}),
    ("redirect with a fragment", idporten(redirect_uris=["https://example.no/cb#x"]),
     {"redirect_uris"}),
    ("custom scheme on web", idporten(redirect_uris=["app:/cb"]), {"redirect_uris"}),
    ("frontchannel logout elsewhere", idporten(frontchannel_logout_uri="https://other.no/fc"),
     {"frontchannel_logout_uri"}),
    ("maskinporten without scopes", maskinporten(scopes=[]), {"scopes"}),
    ("maskinporten with a secret", maskinporten(token_endpoint_auth_method="client_secret_post"),
     {"token_endpoint_auth_method"}),
    ("maskinporten native", maskinporten(application_type="native"), {"application_type"}),
    ("maskinporten with code grant", maskinporten(grant_types=["authorization_code"]),
     {"grant_types"}),
    ("ansattporten without PKCE",
     idporten(integration_type="ansattporten", code_challenge_method="none"),
     {"code_challenge_method"}),
    ("backchannel logout on another host",
     idporten(backchannel_logout_uri="https://other.example.no/logout"),
     {"backchannel_logout_uri"}),
    ("krr with another scope", maskinporten(integration_type="krr", scopes=["a:b"]), {"scopes"}),
    ("scope with a space", maskinporten(scopes=["a b"]), {"scopes"}),
    ("wrong types", idporten(sso_disabled="yes", scopes="openid", access_token_lifetime="60"),
     {"sso_disabled", "scopes", "access_token_lifetime"}),
    ("boolean lifetime", idporten(access_token_lifetime=True), {"access_token_lifetime"}),
    ("bad enum", idporten(refresh_token_usage="SOMETIMES"), {"refresh_token_usage"}),
]


@pytest.mark.parametrize("body", [b for _, b in ACCEPTED], ids=[n for n, _ in ACCEPTED])
def test_allowed_combinations_are_created(http: httpx.Client, body: dict[str, Any]) -> None:
    response = http.post(f"{API}/clients", json=body)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("body", "fields"), [(b, f) for _, b, f in REJECTED],
                         ids=[n for n, _, _ in REJECTED])
def test_forbidden_combinations_are_rejected(http: httpx.Client, body: dict[str, Any],
                                             fields: set[str]) -> None:
    response = http.post(f"{API}/clients", json=body)
    assert response.status_code == 400, response.text
    assert field_errors(response) == fields


def test_put_is_validated_like_post(http: httpx.Client) -> None:
    client = http.post(f"{API}/clients", json=maskinporten()).json()
    response = http.put(f"{API}/clients/{client['client_id']}", json=maskinporten(scopes=[]))
    assert response.status_code == 400 and field_errors(response) == {"scopes"}


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2, 9000), st.text(max_size=8),
                 st.lists(st.text(max_size=5), max_size=2))
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "integration_type": st.sampled_from(
        ["idporten", "api_klient", "ansattporten", "maskinporten", "krr", "eformidling"]),
    "application_type": st.sampled_from(["web", "browser", "native", "desktop"]),
    "client_name": st.sampled_from(["Tjeneste", ""]),
    "description": st.sampled_from(["selvsync:a:b", " "]),
    "token_endpoint_auth_method": st.sampled_from(
        ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]),
    "grant_types": st.lists(st.sampled_from(
        ["authorization_code", "refresh_token", JWT_BEARER, "implicit"]), max_size=3),
    "scopes": st.lists(st.sampled_from(
        ["openid", "profile", "eidas", "no_pid", "nav:x", "krr:global/digitalpost.read"]),
        max_size=3),
    "redirect_uris": st.lists(st.sampled_from(
        ["https://a.example.no/cb", "http://localhost:1/cb", "app:/cb", "nope"]), max_size=2),
    "post_logout_redirect_uris": st.lists(st.just("https://a.example.no/out"), max_size=1),
    "code_challenge_method": st.sampled_from(["S256", "none"]),
    "access_token_lifetime": st.integers(-1, 500),
    "sso_disabled": st.booleans(),
}


@pytest.fixture(scope="module")
def fuzz_http() -> Iterator[httpx.Client]:
    emu = Emulator(seed=5)
    emu.add_token("t", "991825827")
    with httpx.Client(transport=emu.transport(), base_url="http://emulator",
                      headers={"Authorization": "Bearer t"}) as http:
        yield http
    emu.close()


CHANGES = {**FIELD_VALUES, "logo_uri": JUNK, "refresh_token_usage": JUNK}
VALID_BASES = [idporten(), maskinporten(), maskinporten(integration_type="krr", scopes=None),
               idporten(integration_type="ansattporten", application_type="browser",
                        token_endpoint_auth_method="none")]


@settings(max_examples=150, deadline=None)
@given(base=st.sampled_from(VALID_BASES),
       changes=st.lists(st.sampled_from(sorted(CHANGES)), max_size=3, unique=True).flatmap(
           lambda names: st.fixed_dictionaries({n: CHANGES[n] for n in names})))
def test_any_body_is_either_created_or_explained(fuzz_http: httpx.Client, base: dict[str, Any],
                                                 changes: dict[str, Any]) -> None:
    body = {**base, **changes}
    response = fuzz_http.post(f"{API}/clients", json=body)
    event(f"status {response.status_code}")
    assert response.status_code in (201, 400), response.text
    if response.status_code == 400:
        assert response.json()["errors"], "a 400 always says why"
        return
    created = response.json()
    assert "client_secret" not in created or created["token_endpoint_auth_method"].startswith(
        "client_secret")
    # What the server returns can be sent back unchanged: the round trip plan/apply rely on.
    again = fuzz_http.put(f"{API}/clients/{created['client_id']}", json=created)
    assert again.status_code == 200, again.text
    unchanged = {k: v for k, v in again.json().items() if k != "last_updated"}
    assert unchanged == {k: v for k, v in created.items()
                         if k not in ("last_updated", "client_secret")}
