"""selvsync.plan.diff and the field catalogue it reads: desired + live dicts in, field changes
out. Pure: no emulator. Later moves to tests/plan/test_diff.py."""

from __future__ import annotations

from typing import Any

from selvsync.plan.diff import FieldChange, canonical, compare, writable
from selvsync.rules.combinations import JWT_BEARER, KRR_SCOPES
from selvsync.rules.fields import (
    BY_NAME,
    DEFAULTS,
    FIELDS,
    IMMUTABLE_FIELDS,
    READ_ONLY,
    SERVER_ADDED_SCOPES,
    SET_FIELDS,
    WRITABLE_FIELDS,
    effective_defaults,
)

LOGIN: dict[str, Any] = {
    "integration_type": "idporten",
    "client_name": "Min side",
    "redirect_uris": ["https://a.example.no/cb", "https://b.example.no/cb"],
    "post_logout_redirect_uris": ["https://a.example.no/"],
    "scopes": ["openid", "profile"],
}


# --- the catalogue ---------------------------------------------------------------------------


def test_catalogue_derived_names() -> None:
    assert WRITABLE_FIELDS[:3] == ("integration_type", "application_type", "client_name")
    assert len(WRITABLE_FIELDS) == 20 and "client_id" not in WRITABLE_FIELDS
    assert "backchannel_logout_uri" in WRITABLE_FIELDS
    assert {"grant_types", "scopes", "redirect_uris", "post_logout_redirect_uris"} == SET_FIELDS
    assert {"integration_type"} == IMMUTABLE_FIELDS
    assert set(READ_ONLY) == {"client_orgno", "supplier_orgno", "created", "last_updated",
                              "active", "jwks_uri", "backchannel_logout_session_required"}
    assert len(BY_NAME) == len(FIELDS)
    assert SERVER_ADDED_SCOPES["idporten"] == {"openid", "profile"}
    assert "maskinporten" not in SERVER_ADDED_SCOPES


def test_catalogue_defaults_by_layer() -> None:
    assert dict(DEFAULTS["common"]) == {
        "application_type": "web", "authorization_lifetime": 7200,
        "access_token_lifetime": 120, "refresh_token_lifetime": 600,
        "refresh_token_usage": "ONETIME", "sso_disabled": False,
        "frontchannel_logout_session_required": False,
    }
    assert dict(DEFAULTS["login"]) == {
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ("authorization_code",), "scopes": ("openid", "profile"),
        "code_challenge_method": "S256",
    }
    assert dict(DEFAULTS["public_app"]) == {"token_endpoint_auth_method": "none"}
    for machine in ("maskinporten", "krr"):
        assert dict(DEFAULTS[machine]) == {
            "token_endpoint_auth_method": "private_key_jwt", "grant_types": (JWT_BEARER,),
            "scopes": KRR_SCOPES if machine == "krr" else (), "redirect_uris": (),
            "post_logout_redirect_uris": (),
        }


def test_read_only_fields_are_neither_written_nor_compared() -> None:
    live = {**LOGIN, "client_id": "x", "created": "2024-01-01", "client_orgno": "991825827"}
    assert "created" not in writable(live)
    assert compare(LOGIN, live) == []


# --- compare ---------------------------------------------------------------------------------


def test_identical_clients_have_no_changes() -> None:
    assert compare(LOGIN, dict(LOGIN)) == []


def test_set_fields_ignore_order_and_duplicates() -> None:
    live = {**LOGIN, "redirect_uris": list(reversed(LOGIN["redirect_uris"])) * 2}
    assert compare(LOGIN, live) == []


def test_a_list_change_is_reported_sorted() -> None:
    desired = {**LOGIN, "redirect_uris": ["https://c.example.no/cb", "https://a.example.no/cb"]}
    assert compare(desired, LOGIN) == [FieldChange(
        "redirect_uris",
        ["https://a.example.no/cb", "https://b.example.no/cb"],
        ["https://a.example.no/cb", "https://c.example.no/cb"],
    )]


def test_server_added_scopes_are_no_change_for_login_clients() -> None:
    desired = {**LOGIN, "scopes": ["ks:fiks"]}
    live = {**LOGIN, "scopes": ["openid", "ks:fiks", "profile"]}
    assert compare(desired, live) == []


def test_omitted_field_equal_to_the_default_is_no_change() -> None:
    live = {**LOGIN, "access_token_lifetime": 120, "token_endpoint_auth_method":
            "client_secret_basic", "grant_types": ["authorization_code"]}
    assert compare(LOGIN, live) == []


def test_omitted_field_with_another_live_value_goes_back_to_the_default() -> None:
    live = {**LOGIN, "access_token_lifetime": 300}
    assert compare(LOGIN, live) == [FieldChange("access_token_lifetime", 300, 120)]


def test_omitted_field_without_a_default_is_cleared() -> None:
    live = {**LOGIN, "logo_uri": "https://a.example.no/logo.png"}
    assert compare(LOGIN, live) == [
        FieldChange("logo_uri", "https://a.example.no/logo.png", None)]
    assert compare(LOGIN, {**LOGIN, "logo_uri": None}) == []


def test_empty_string_equals_absent() -> None:
    assert compare({**LOGIN, "client_uri": ""}, LOGIN) == []


def test_public_app_defaults_to_no_client_authentication() -> None:
    desired = {**LOGIN, "application_type": "browser"}
    live = {**desired, "token_endpoint_auth_method": "none"}
    assert compare(desired, live) == []
    assert effective_defaults("idporten", "browser")["token_endpoint_auth_method"] == "none"


def test_immutable_field_change_is_reported() -> None:
    desired = {**LOGIN, "integration_type": "ansattporten"}
    changes = compare(desired, LOGIN)
    assert FieldChange("integration_type", "idporten", "ansattporten") in changes


def test_canonical() -> None:
    assert canonical("scopes", ["b", "a", "b"]) == ["a", "b"]
    assert canonical("scopes", []) is None
    assert canonical("client_uri", "") is None
    assert canonical("access_token_lifetime", 0) == 0
    assert canonical("anything", None) is None
