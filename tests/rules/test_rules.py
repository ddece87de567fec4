"""Digdir's semantic rules: one focused case per rule, valid clients of every kind, defaults."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selvsync.errors import Diagnostic, Position
from selvsync.rules import (
    DEFAULTS,
    JWT_BEARER,
    KRR_SCOPES,
    Locate,
    Path,
    check_client,
    check_merchant,
    check_orgno,
    effective_defaults,
    format_field,
    valid_orgno,
)
from selvsync.rules.uris import registrable_domain, valid_email

FILE = "environments/test.yaml"
PREFIX = "clients.app"
DELETE = object()  # marks a field a case removes


def make_locate(obj: Any) -> Locate:
    """A fake YAML position map: every path present in ``obj`` gets its own line, so a test
    can tell which path a diagnostic was placed at. Missing paths return None."""
    positions: dict[Path, Position] = {}

    def walk(value: Any, path: Path, depth: int) -> None:
        positions[path] = Position(FILE, 10 + len(positions), 1 + 2 * depth)
        children = (
            value.items()
            if isinstance(value, dict)
            else enumerate(value)
            if isinstance(value, list)
            else ()
        )
        for key, child in children:
            walk(child, (*path, key), depth + 1)

    walk(obj, (), 0)
    return positions.get


def nearest(locate: Locate, path: Path) -> Position | None:
    for end in range(len(path), -1, -1):
        if (found := locate(path[:end])) is not None:
            return found
    return None


SELVSYNC_OWN = {"protect": True, "allow_replace": False, "extends": "base", "merchant": {}}

IDPORTEN_WEB: dict[str, Any] = {
    "integration_type": "idporten",
    "application_type": "web",
    "client_name": "Min side",
    "description": "Innlogging til Min side",
    "client_uri": "https://minside.example.no/",
    "logo_uri": "https://minside.example.no/logo.svg",
    "token_endpoint_auth_method": "private_key_jwt",
    "grant_types": ["authorization_code", "refresh_token"],
    "scopes": ["openid", "profile", "eidas", "no_pid"],
    "redirect_uris": ["https://minside.example.no/callback", "https://www.example.no/cb"],
    "post_logout_redirect_uris": ["https://minside.example.no/logged-out"],
    "frontchannel_logout_uri": "https://login.example.no/frontchannel",
    "frontchannel_logout_session_required": True,
    "authorization_lifetime": 7200,
    "access_token_lifetime": 120,
    "refresh_token_lifetime": 600,
    "refresh_token_usage": "REUSE",
    "sso_disabled": False,
    "code_challenge_method": "S256",
    "keys": "keys/minside.jwks.json",
    "client_id": "6c3f0c7a-0000-4000-8000-000000000001",
    **SELVSYNC_OWN,
}
SPA: dict[str, Any] = {
    "integration_type": "idporten",
    "application_type": "browser",
    "client_name": "Søknad (SPA)",
    "redirect_uris": ["https://soknad.example.no/callback"],
    "post_logout_redirect_uris": ["https://soknad.example.no/"],
}
NATIVE_API_KLIENT: dict[str, Any] = {
    "integration_type": "api_klient",
    "application_type": "native",
    "client_name": "Turboskatt",
    "scopes": ["skatteetaten:skattemelding"],
    "grant_types": ["authorization_code", "refresh_token"],
    "redirect_uris": ["no.digdir.turboskatt:/callback", "http://127.0.0.1:0/callback"],
    "post_logout_redirect_uris": ["no.digdir.turboskatt:/logout"],
}
MASKINPORTEN: dict[str, Any] = {
    "integration_type": "maskinporten",
    "client_name": "Fagsystem",
    "scopes": ["org:api.read", "org:api.write"],
    "keys": "keys/fagsystem.jwks.json",
    "access_token_lifetime": 300,
}
KRR: dict[str, Any] = {
    "integration_type": "krr",
    "client_name": "Varsling",
    "token_endpoint_auth_method": "private_key_jwt",
    "grant_types": [JWT_BEARER],
}
ANSATTPORTEN: dict[str, Any] = {
    "integration_type": "ansattporten",
    "client_name": "Intranett",
    "token_endpoint_auth_method": "client_secret_post",
    "scopes": ["openid", "profile", "org:ansatt.read"],
    "redirect_uris": ["https://intranett.example.no/oauth2/callback"],
    "post_logout_redirect_uris": ["https://intranett.example.no/"],
}
VALID = {
    "idporten-web-private-key-jwt": IDPORTEN_WEB,
    "idporten-spa": SPA,
    "api_klient-native-custom-scheme": NATIVE_API_KLIENT,
    "maskinporten": MASKINPORTEN,
    "krr": KRR,
    "ansattporten": ANSATTPORTEN,
}


def run(client: Mapping[str, Any], *, production: bool = False) -> tuple[list[Diagnostic], Locate]:
    locate = make_locate(client)
    found = check_client("app", client, production=production, locate=locate, field_prefix=PREFIX)
    return found, locate


@pytest.mark.parametrize("production", [False, True], ids=["test", "prod"])
@pytest.mark.parametrize("client", VALID.values(), ids=VALID.keys())
def test_valid_clients_have_no_diagnostics(client: dict[str, Any], production: bool) -> None:
    found, _ = run(client, production=production)
    assert found == []


@dataclass(frozen=True)
class Case:
    name: str
    base: dict[str, Any]
    changes: dict[str, Any]
    path: Path
    says: str  # a piece of the message
    production: bool = False
    hint_says: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self) -> dict[str, Any]:
        client = copy.deepcopy(self.base)
        for key, value in self.changes.items():
            if value is DELETE:
                client.pop(key, None)
            else:
                client[key] = value
        return client


CASES = [
    # required fields and types
    Case(
        "integration_type missing",
        IDPORTEN_WEB,
        {"integration_type": DELETE},
        ("integration_type",),
        "required",
    ),
    Case(
        "eformidling",
        IDPORTEN_WEB,
        {"integration_type": "eformidling"},
        ("integration_type",),
        "administered by Digdir",
    ),
    Case(
        "unknown integration_type",
        IDPORTEN_WEB,
        {"integration_type": "oidc"},
        ("integration_type",),
        "unknown",
    ),
    Case(
        "client_name missing", IDPORTEN_WEB, {"client_name": DELETE}, ("client_name",), "required"
    ),
    Case("client_name blank", IDPORTEN_WEB, {"client_name": "  "}, ("client_name",), "empty"),
    Case(
        "client_name too long",
        IDPORTEN_WEB,
        {"client_name": "x" * 101},
        ("client_name",),
        "at most 100",
    ),
    Case(
        "client_name two lines",
        IDPORTEN_WEB,
        {"client_name": "Min\nside"},
        ("client_name",),
        "line break",
    ),
    Case(
        "unknown application_type",
        IDPORTEN_WEB,
        {"application_type": "mobile"},
        ("application_type",),
        "unknown",
    ),
    Case(
        "maskinporten browser",
        MASKINPORTEN,
        {"application_type": "browser"},
        ("application_type",),
        "must be web",
    ),
    # token_endpoint_auth_method
    Case(
        "unknown auth method",
        IDPORTEN_WEB,
        {"token_endpoint_auth_method": "tls_client_auth"},
        ("token_endpoint_auth_method",),
        "unknown",
    ),
    Case(
        "maskinporten secret",
        MASKINPORTEN,
        {"token_endpoint_auth_method": "client_secret_basic", "keys": DELETE},
        ("token_endpoint_auth_method",),
        "must use private_key_jwt",
    ),
    Case(
        "krr none",
        KRR,
        {"token_endpoint_auth_method": "none"},
        ("token_endpoint_auth_method",),
        "must use private_key_jwt",
    ),
    Case(
        "browser with secret",
        SPA,
        {"token_endpoint_auth_method": "client_secret_basic"},
        ("token_endpoint_auth_method",),
        "must be none",
    ),
    Case(
        "native with private_key_jwt",
        NATIVE_API_KLIENT,
        {"token_endpoint_auth_method": "private_key_jwt"},
        ("token_endpoint_auth_method",),
        "must be none",
    ),
    Case(
        "web with none",
        IDPORTEN_WEB,
        {"token_endpoint_auth_method": "none", "keys": DELETE},
        ("token_endpoint_auth_method",),
        "only for browser and native",
    ),
    Case(
        "keys with client secret",
        IDPORTEN_WEB,
        {"token_endpoint_auth_method": "client_secret_post"},
        ("keys",),
        "only used with private_key_jwt",
    ),
    Case(
        "keys with default method",
        IDPORTEN_WEB,
        {"token_endpoint_auth_method": DELETE},
        ("keys",),
        "client_secret_basic (Digdir's default)",
    ),
    # grant_types
    Case(
        "implicit",
        IDPORTEN_WEB,
        {"grant_types": ["authorization_code", "implicit"]},
        ("grant_types", 1),
        "not allowed",
        hint_says="leaks tokens",
    ),
    Case(
        "password",
        ANSATTPORTEN,
        {"grant_types": ["authorization_code", "password"]},
        ("grant_types", 1),
        "not allowed",
        hint_says="credentials",
    ),
    Case(
        "client_credentials",
        MASKINPORTEN,
        {"grant_types": [JWT_BEARER, "client_credentials"]},
        ("grant_types", 1),
        "not allowed",
        hint_says="JWT-bearer",
    ),
    Case(
        "jwt-bearer short form",
        MASKINPORTEN,
        {"grant_types": [JWT_BEARER, "jwt_bearer_token"]},
        ("grant_types", 1),
        "in full",
    ),
    Case(
        "unknown grant",
        IDPORTEN_WEB,
        {"grant_types": ["authorization_code", "device_code"]},
        ("grant_types", 1),
        "unknown grant",
    ),
    Case(
        "jwt-bearer on login",
        IDPORTEN_WEB,
        {"grant_types": ["authorization_code", JWT_BEARER]},
        ("grant_types", 1),
        "not allowed",
    ),
    Case(
        "authorization_code on maskinporten",
        MASKINPORTEN,
        {"grant_types": [JWT_BEARER, "authorization_code"]},
        ("grant_types", 1),
        "do not log users in",
    ),
    Case(
        "refresh without code",
        IDPORTEN_WEB,
        {"grant_types": ["refresh_token"]},
        ("grant_types",),
        "refresh_token requires authorization_code",
    ),
    Case(
        "login without code",
        IDPORTEN_WEB,
        {"grant_types": []},
        ("grant_types",),
        "need the authorization_code grant",
    ),
    Case(
        "maskinporten without jwt-bearer",
        MASKINPORTEN,
        {"grant_types": []},
        ("grant_types",),
        "need the JWT-bearer grant",
    ),
    # scopes
    Case(
        "idporten API scope",
        IDPORTEN_WEB,
        {"scopes": ["openid", "org:api.read"]},
        ("scopes", 1),
        "only have openid",
        hint_says="api_klient",
    ),
    Case(
        "maskinporten no scopes",
        MASKINPORTEN,
        {"scopes": []},
        ("scopes",),
        "at least one scope",
        hint_says='e.g. "org:api.read"',
    ),
    Case(
        "maskinporten scopes omitted",
        MASKINPORTEN,
        {"scopes": DELETE},
        ("scopes",),
        "at least one scope",
    ),
    Case(
        "maskinporten openid",
        MASKINPORTEN,
        {"scopes": ["org:api.read", "openid"]},
        ("scopes", 1),
        "login scope",
    ),
    Case(
        "krr foreign scope",
        KRR,
        {"scopes": [KRR_SCOPES[0], "org:api.read"]},
        ("scopes", 1),
        "only have the KRR scopes",
    ),
    Case(
        "krr empty scopes", KRR, {"scopes": []}, ("scopes",), "need scopes", hint_says="omit scopes"
    ),
    Case(
        "space-separated scopes",
        ANSATTPORTEN,
        {"scopes": ["openid profile"]},
        ("scopes", 0),
        "spaces",
    ),
    # PKCE
    Case(
        "browser without PKCE",
        SPA,
        {"code_challenge_method": "none"},
        ("code_challenge_method",),
        "must use PKCE",
    ),
    Case(
        "native without PKCE",
        NATIVE_API_KLIENT,
        {"code_challenge_method": "none"},
        ("code_challenge_method",),
        "must use PKCE",
    ),
    Case(
        "plain PKCE",
        IDPORTEN_WEB,
        {"code_challenge_method": "plain"},
        ("code_challenge_method",),
        "unknown",
    ),
    # which clients need or must not have URIs
    Case(
        "login without redirect_uris",
        IDPORTEN_WEB,
        {"redirect_uris": DELETE},
        ("redirect_uris",),
        "at least one URI",
    ),
    Case(
        "login empty redirect_uris",
        SPA,
        {"redirect_uris": []},
        ("redirect_uris",),
        "at least one URI",
    ),
    Case(
        "login without logout uris",
        ANSATTPORTEN,
        {"post_logout_redirect_uris": DELETE},
        ("post_logout_redirect_uris",),
        "at least one URI",
    ),
    Case(
        "maskinporten redirect",
        MASKINPORTEN,
        {"redirect_uris": ["https://x.example.no/cb"]},
        ("redirect_uris",),
        "must not have",
        hint_says="remove redirect_uris",
    ),
    Case(
        "krr logout uris",
        KRR,
        {"post_logout_redirect_uris": ["https://x.example.no/"]},
        ("post_logout_redirect_uris",),
        "must not have",
    ),
    Case(
        "maskinporten frontchannel",
        MASKINPORTEN,
        {"frontchannel_logout_uri": "https://x.example.no/fc"},
        ("frontchannel_logout_uri",),
        "must not have",
    ),
    # URI syntax
    Case(
        "http redirect",
        SPA,
        {"redirect_uris": ["http://soknad.example.no/cb"]},
        ("redirect_uris", 0),
        "https://",
    ),
    Case(
        "fragment",
        SPA,
        {"redirect_uris": ["https://soknad.example.no/cb#x"]},
        ("redirect_uris", 0),
        "fragment",
    ),
    Case(
        "wildcard host",
        SPA,
        {"redirect_uris": ["https://*.example.no/cb"]},
        ("redirect_uris", 0),
        "wildcard",
        hint_says="in full",
    ),
    Case(
        "wildcard loopback port",
        NATIVE_API_KLIENT,
        {"redirect_uris": ["http://127.0.0.1:*/cb"]},
        ("redirect_uris", 0),
        "wildcard",
        hint_says="port 0",
    ),
    Case(
        "relative",
        SPA,
        {"redirect_uris": ["/callback"]},
        ("redirect_uris", 0),
        "not an absolute URI",
    ),
    Case(
        "whitespace",
        SPA,
        {"redirect_uris": ["https://soknad.example.no/my cb"]},
        ("redirect_uris", 0),
        "whitespace",
    ),
    Case(
        "bad port",
        SPA,
        {"redirect_uris": ["https://soknad.example.no:99999/cb"]},
        ("redirect_uris", 0),
        "not a valid URI",
    ),
    Case("no host", SPA, {"redirect_uris": ["https:///cb"]}, ("redirect_uris", 0), "no host"),
    Case(
        "custom scheme on web",
        IDPORTEN_WEB,
        {"redirect_uris": ["https://minside.example.no/cb", "no.example.app:/cb"]},
        ("redirect_uris", 1),
        "only for native",
    ),
    Case(
        "javascript scheme",
        NATIVE_API_KLIENT,
        {"redirect_uris": ["javascript:alert(1)"]},
        ("redirect_uris", 0),
        "never be a redirect target",
    ),
    Case(
        "localhost without scheme",
        NATIVE_API_KLIENT,
        {"redirect_uris": ["localhost:8080/cb"]},
        ("redirect_uris", 0),
        "no scheme before localhost",
    ),
    Case(
        "prod localhost web",
        IDPORTEN_WEB,
        {"redirect_uris": ["https://minside.example.no/cb", "http://localhost:8080/cb"]},
        ("redirect_uris", 1),
        "only for native",
        production=True,
    ),
    Case(
        "prod localhost logout browser",
        SPA,
        {"post_logout_redirect_uris": ["http://127.0.0.1:3000/"]},
        ("post_logout_redirect_uris", 0),
        "only for native",
        production=True,
    ),
    Case(
        "test https localhost",
        SPA,
        {"redirect_uris": ["https://localhost:3000/cb"]},
        ("redirect_uris", 0),
        "must use http://",
    ),
    Case(
        "http logout",
        ANSATTPORTEN,
        {"post_logout_redirect_uris": ["http://intranett.example.no/"]},
        ("post_logout_redirect_uris", 0),
        "https://",
    ),
    Case(
        "client_uri http",
        IDPORTEN_WEB,
        {"client_uri": "http://minside.example.no/"},
        ("client_uri",),
        "https://",
    ),
    Case(
        # A relative reference (logo.svg) passes, as at Digdir: see test_newer_fields.py.
        "logo_uri scheme-relative",
        IDPORTEN_WEB,
        {"logo_uri": "//cdn.example.no/logo.svg"},
        ("logo_uri",),
        "not an absolute URI",
    ),
    Case(
        "frontchannel other domain",
        IDPORTEN_WEB,
        {"frontchannel_logout_uri": "https://login.other.no/fc"},
        ("frontchannel_logout_uri",),
        "same domain",
    ),
    Case(
        "frontchannel http",
        IDPORTEN_WEB,
        {"frontchannel_logout_uri": "http://login.example.no/fc"},
        ("frontchannel_logout_uri",),
        "https://",
    ),
    Case(
        "frontchannel custom scheme",
        IDPORTEN_WEB,
        {"frontchannel_logout_uri": "no.example.app:/fc"},
        ("frontchannel_logout_uri",),
        "https://",
    ),
    # lifetimes
    Case(
        "authorization_lifetime 0",
        IDPORTEN_WEB,
        {"authorization_lifetime": 0},
        ("authorization_lifetime",),
        "rejected by Digdir",
        hint_says="omit the field to use Digdir's default of 7200 seconds",
    ),
    Case(
        "access_token_lifetime 0",
        MASKINPORTEN,
        {"access_token_lifetime": 0},
        ("access_token_lifetime",),
        "rejected by Digdir",
        hint_says="default of 120 seconds",
    ),
    Case(
        "refresh_token_lifetime 0",
        IDPORTEN_WEB,
        {"refresh_token_lifetime": 0},
        ("refresh_token_lifetime",),
        "rejected by Digdir",
        hint_says="default of 600 seconds",
    ),
    Case(
        "negative lifetime",
        IDPORTEN_WEB,
        {"access_token_lifetime": -5},
        ("access_token_lifetime",),
        "positive",
    ),
    Case(
        "lifetime in milliseconds",
        MASKINPORTEN,
        {"access_token_lifetime": 120_000},
        ("access_token_lifetime",),
        "more than 86400",
    ),
    Case(
        "refresh outlives authorization",
        IDPORTEN_WEB,
        {"refresh_token_lifetime": 9000},
        ("refresh_token_lifetime",),
        "longer than authorization_lifetime",
    ),
    Case(
        "refresh outlives default authorization",
        SPA,
        {"grant_types": ["authorization_code", "refresh_token"], "refresh_token_lifetime": 8000},
        ("refresh_token_lifetime",),
        "7200 (Digdir's default)",
    ),
    Case(
        "refresh_token_usage case",
        IDPORTEN_WEB,
        {"refresh_token_usage": "onetime"},
        ("refresh_token_usage",),
        "unknown",
    ),
    # fields nobody may write
    Case(
        "client_secret",
        IDPORTEN_WEB,
        {"client_secret": "s3cr3t-value"},
        ("client_secret",),
        "literal secrets are not allowed in YAML",
        hint_says="secret sink",
    ),
    *[
        Case(
            f"read-only {name}",
            MASKINPORTEN,
            {name: value},
            (name,),
            "read-only",
            hint_says="remove it",
        )
        for name, value in [
            ("client_orgno", "123456785"),
            ("supplier_orgno", "123456785"),
            ("created", "2021-09-15T10:20:43.354+02:00"),
            ("last_updated", "2021-09-15T10:20:43.354+02:00"),
            ("active", True),
            ("jwks_uri", "https://x.example.no/jwks"),
        ]
    ],
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rule(case: Case) -> None:
    client = case.client()
    found, locate = run(client, production=case.production)
    assert len(found) == 1, [str(d) for d in found]
    (diag,) = found
    assert diag.field == format_field(PREFIX, case.path)
    assert diag.position == nearest(locate, case.path)
    assert diag.position is not None
    assert case.says in diag.message
    assert diag.hint and case.hint_says in diag.hint


def test_missing_field_is_placed_at_the_client() -> None:
    client = copy.deepcopy(IDPORTEN_WEB)
    del client["client_name"]
    found, locate = run(client)
    assert [d.field for d in found] == ["clients.app.client_name"]
    assert found[0].position == locate(()) == Position(FILE, 10, 1)


def test_present_field_is_placed_at_its_own_line() -> None:
    client = copy.deepcopy(SPA)
    client["redirect_uris"] = ["https://ok.example.no/cb", "https://bad.example.no/cb#frag"]
    found, locate = run(client)
    assert found[0].position == locate(("redirect_uris", 1))
    assert found[0].position != locate(("redirect_uris",))


def test_all_problems_are_collected() -> None:
    client = {
        "integration_type": "idporten",
        "application_type": "browser",
        "client_name": "",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["implicit"],
        "scopes": ["org:api.read"],
        "redirect_uris": ["http://x.example.no/cb#a"],
        "access_token_lifetime": 0,
        "client_secret": "hemmelig",
    }
    found, _ = run(client)
    fields = sorted(d.field.removeprefix(PREFIX + ".") for d in found)
    assert fields == sorted(
        [
            "client_secret",
            "client_name",
            "token_endpoint_auth_method",
            "grant_types[0]",
            "grant_types",
            "scopes[0]",
            "post_logout_redirect_uris",
            "redirect_uris[0]",
            "redirect_uris[0]",
            "access_token_lifetime",
        ]
    )


def test_client_secret_value_never_appears() -> None:
    secret = "Zx9-very-secret-value-42"
    client = dict(IDPORTEN_WEB, client_secret=secret)
    found, _ = run(client)
    assert found
    assert all(secret not in f"{d} {d!r}" for d in found)


@pytest.mark.parametrize(
    ("client", "production"),
    [
        (dict(NATIVE_API_KLIENT, redirect_uris=["http://localhost:8400/cb"]), True),
        (dict(NATIVE_API_KLIENT, redirect_uris=["http://[::1]:0/cb"]), False),
        (dict(SPA, redirect_uris=["http://localhost:3000/cb"]), False),
        (dict(IDPORTEN_WEB, frontchannel_logout_uri="https://www.example.no/fc"), True),
        (dict(IDPORTEN_WEB, code_challenge_method="none"), False),
        (dict(IDPORTEN_WEB, token_endpoint_auth_method="client_secret_basic", keys=None), False),
        (dict(KRR, scopes=[KRR_SCOPES[1]]), True),
        (dict(MASKINPORTEN, keys=None, redirect_uris=[]), True),
        (dict(MASKINPORTEN, authorization_lifetime=365 * 86400), True),
    ],
    ids=[
        "native-localhost-prod",
        "native-ipv6-loopback",
        "spa-localhost-test",
        "frontchannel-sibling-subdomain",
        "web-without-pkce",
        "web-secret-without-keys",
        "krr-one-scope",
        "maskinporten-without-keys",
        "authorization-a-year",
    ],
)
def test_allowed_edge_cases(client: dict[str, Any], production: bool) -> None:
    found, _ = run(client, production=production)
    assert found == []


def test_wrong_types_are_skipped_not_crashed_on() -> None:
    client = {
        "integration_type": "idporten",
        "client_name": 42,
        "grant_types": "authorization_code",
        "scopes": [1, None],
        "redirect_uris": [None, 3],
        "post_logout_redirect_uris": {"a": 1},
        "access_token_lifetime": True,
        "frontchannel_logout_uri": 7,
    }
    found, _ = run(client)
    # Only the meaning-level problem (no authorization_code grant, no usable logout URI
    # list) is reported; type errors belong to the schema.
    assert {d.field for d in found} == {"clients.app.grant_types"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = [*IDPORTEN_WEB.keys(), "client_secret", "active"]


@given(
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=12),
    st.booleans(),
)
def test_check_client_never_raises(client: dict[str, Any], production: bool) -> None:
    found = check_client(
        "k", client, production=production, locate=lambda _: None, field_prefix="c"
    )
    assert all(d.message and d.hint and d.field.startswith("c") for d in found)


# ---------------------------------------------------------------- defaults


def test_effective_defaults_login_web() -> None:
    assert effective_defaults("idporten", "web") == {
        "application_type": "web",
        "authorization_lifetime": 7200,
        "access_token_lifetime": 120,
        "refresh_token_lifetime": 600,
        "refresh_token_usage": "ONETIME",
        "sso_disabled": False,
        "frontchannel_logout_session_required": False,
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code"],
        "scopes": ["openid", "profile"],
        "code_challenge_method": "S256",
    }


@pytest.mark.parametrize("app", ["browser", "native"])
def test_effective_defaults_public_apps(app: str) -> None:
    defaults = effective_defaults("api_klient", app)
    assert defaults["token_endpoint_auth_method"] == "none"
    assert defaults["application_type"] == app
    assert defaults["code_challenge_method"] == "S256"


def test_effective_defaults_machine_clients() -> None:
    maskinporten = effective_defaults("maskinporten")
    assert maskinporten["grant_types"] == [JWT_BEARER]
    assert maskinporten["token_endpoint_auth_method"] == "private_key_jwt"
    assert maskinporten["scopes"] == []
    assert "code_challenge_method" not in maskinporten
    assert effective_defaults("krr")["scopes"] == list(KRR_SCOPES)


def test_effective_defaults_unknown_type_and_fresh_copies() -> None:
    assert effective_defaults("eformidling") == dict(DEFAULTS["common"])
    first = effective_defaults("idporten")
    first["scopes"].append("eidas")
    assert effective_defaults("idporten")["scopes"] == ["openid", "profile"]


def test_format_field() -> None:
    assert format_field("clients.app", ("redirect_uris", 2)) == "clients.app.redirect_uris[2]"
    assert format_field("clients.app", ()) == "clients.app"
    assert format_field("", ("invoice", "orgno")) == "invoice.orgno"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("login.nav.no", "www.nav.no", True),
        ("nav.no", "www.NAV.no.", True),
        ("nav.no", "nav.com", False),
        ("localhost", "127.0.0.1", False),
    ],
)
def test_registrable_domain(a: str, b: str, same: bool) -> None:
    assert (registrable_domain(a) == registrable_domain(b)) is same


# ---------------------------------------------------------------- merchant and orgno

MERCHANT: dict[str, Any] = {
    "notification_emails": ["drift@example.no", "vakt+digdir@sub.example.no"],
    "invoice": {
        "orgno": "974760673",
        "reference": "Prosjekt 4711",
        "contact_email": "faktura@example.no",
        "peppol_address": "0192:974760673",
    },
}
MPREFIX = "merchant"


def run_merchant(merchant: dict[str, Any], *, production: bool) -> tuple[list[Diagnostic], Locate]:
    locate = make_locate(merchant)
    found = check_merchant(merchant, production=production, locate=locate, field_prefix=MPREFIX)
    return found, locate


@pytest.mark.parametrize("production", [False, True])
def test_valid_merchant(production: bool) -> None:
    assert run_merchant(MERCHANT, production=production)[0] == []


def test_test_environment_needs_no_merchant_data() -> None:
    assert run_merchant({}, production=False)[0] == []


def with_invoice(**changes: Any) -> dict[str, Any]:
    merchant = copy.deepcopy(MERCHANT)
    for key, value in changes.items():
        if value is DELETE:
            del merchant["invoice"][key]
        else:
            merchant["invoice"][key] = value
    return merchant


MERCHANT_CASES = [
    (
        "no e-mails in prod",
        {"invoice": MERCHANT["invoice"]},
        ("notification_emails",),
        "at least one",
    ),
    (
        "empty e-mails in prod",
        dict(MERCHANT, notification_emails=[]),
        ("notification_emails",),
        "at least one",
    ),
    (
        "bad e-mail",
        dict(MERCHANT, notification_emails=["drift@example.no", "drift.example.no"]),
        ("notification_emails", 1),
        "not a valid e-mail",
    ),
    (
        "e-mail with display name",
        dict(MERCHANT, notification_emails=["Drift <drift@example.no>"]),
        ("notification_emails", 0),
        "not a valid e-mail",
    ),
    ("invoice orgno missing", with_invoice(orgno=DELETE), ("invoice", "orgno"), "required"),
    (
        "invoice orgno check digit",
        with_invoice(orgno="974760672"),
        ("invoice", "orgno"),
        "check digit",
    ),
    ("invoice orgno length", with_invoice(orgno="97476067"), ("invoice", "orgno"), "not 9 digits"),
    (
        "invoice reference missing",
        with_invoice(reference=DELETE),
        ("invoice", "reference"),
        "required",
    ),
    ("invoice reference blank", with_invoice(reference=" "), ("invoice", "reference"), "required"),
    (
        "contact e-mail",
        with_invoice(contact_email="faktura@"),
        ("invoice", "contact_email"),
        "not a valid e-mail",
    ),
    (
        "peppol format",
        with_invoice(peppol_address="974760673"),
        ("invoice", "peppol_address"),
        "not a Peppol",
    ),
    (
        "peppol 0192 orgno",
        with_invoice(peppol_address="0192:974760672"),
        ("invoice", "peppol_address"),
        "not a valid organisation number",
    ),
]


@pytest.mark.parametrize(
    ("name", "merchant", "path", "says"), MERCHANT_CASES, ids=[c[0] for c in MERCHANT_CASES]
)
def test_merchant_rule(name: str, merchant: dict[str, Any], path: Path, says: str) -> None:
    found, locate = run_merchant(merchant, production=True)
    assert len(found) == 1, [str(d) for d in found]
    (diag,) = found
    assert diag.field == format_field(MPREFIX, path)
    assert diag.position == nearest(locate, path) is not None
    assert says in diag.message and diag.hint


def test_missing_invoice_field_is_placed_at_invoice() -> None:
    merchant = with_invoice(orgno=DELETE)
    found, locate = run_merchant(merchant, production=False)
    assert found[0].position == locate(("invoice",))


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("a@b.no", True),
        ("first.last+tag@sub.example.com", True),
        ("x@xn--nry-yla.no", True),
        ("a@b", False),
        ("a..b@c.no", False),
        (".a@c.no", False),
        ("a@-c.no", False),
        ("a b@c.no", False),
        ("ø@c.no", False),
        ("a@c.no ", False),
        ("a@" + "c" * 250 + ".no", False),
    ],
)
def test_valid_email(address: str, ok: bool) -> None:
    assert valid_email(address) is ok


@pytest.mark.parametrize(
    ("orgno", "says"),
    [
        (974760673, "must be a string"),
        ("97476067", "not 9 digits"),
        ("974 760 673", "not 9 digits"),
        ("974760672", "check digit"),
    ],
)
def test_check_orgno_problems(orgno: object, says: str) -> None:
    where = Position("selvsync.yaml", 2, 8)
    (diag,) = check_orgno(orgno, where, "orgno")
    assert diag.position == where and diag.field == "orgno"
    assert says in diag.message and diag.hint


def test_check_orgno_valid() -> None:
    assert check_orgno("974760673", Position("selvsync.yaml", 2, 8), "orgno") == []


def reference_orgno(text: str) -> bool:
    """Independent MOD11 (written as Brønnøysund describes it: weights, sum, 11 - rest)."""
    if len(text) != 9 or any(c not in "0123456789" for c in text):
        return False
    digits = [ord(c) - ord("0") for c in text]
    total = sum(d * w for d, w in zip(digits[:8], [3, 2, 7, 6, 5, 4, 3, 2], strict=True))
    control = 11 - total % 11
    if control == 11:
        control = 0
    return control != 10 and control == digits[8]


@given(st.text(alphabet="0123456789", min_size=0, max_size=11) | st.text(max_size=11))
def test_valid_orgno_matches_reference(text: str) -> None:
    assert valid_orgno(text) == reference_orgno(text)


@given(st.text(alphabet="0123456789", min_size=8, max_size=8), st.integers(0, 8), st.integers(1, 9))
def test_any_single_digit_change_is_caught(body: str, position: int, delta: int) -> None:
    candidates = [body + d for d in "0123456789" if reference_orgno(body + d)]
    if not candidates:
        return  # remainder 1: no valid number has this body
    (orgno,) = candidates
    changed = orgno[:position] + str((int(orgno[position]) + delta) % 10) + orgno[position + 1 :]
    assert valid_orgno(orgno) and not valid_orgno(changed)


def test_known_orgnos() -> None:
    assert valid_orgno("974760673")  # Brønnøysundregistrene
    assert valid_orgno("991825827")  # Digdir
    assert not valid_orgno("１２３４５６７８５")  # full-width digits are not ASCII digits
