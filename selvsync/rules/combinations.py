"""Digdir's combination table: integration type x application type x token endpoint auth
method x grant types x scopes, plus the rules that follow from it (PKCE for public clients,
keys only with private_key_jwt, refresh tokens within the authorization).

Split from :mod:`selvsync.rules`, which calls :func:`check_combination` once the integration
and application types are known to be valid. Problems go to a ``report(path, message, hint)``
callback, paths relative to the client. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from selvsync.rules.uris import Path, Report

LOGIN_TYPES: Final = frozenset({"idporten", "api_klient", "ansattporten"})
MACHINE_TYPES: Final = frozenset({"maskinporten", "krr"})
PUBLIC_APPS: Final = frozenset({"browser", "native"})  # public clients: no secret, PKCE
AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_GRANTS: Final = ("authorization_code", "refresh_token")
KRR_SCOPES: Final = ("krr:global/kontaktinformasjon.read", "krr:global/digitalpost.read")
_OIDC_SCOPES: Final = frozenset({"openid", "profile", "eidas", "no_pid"})

_FORBIDDEN_GRANTS: Final = {
    "implicit": "the implicit flow leaks tokens through the browser and Digdir does not offer "
    "it; use authorization_code (with PKCE for browser apps)",
    "password": "the password grant would hand citizens' credentials to the client; Digdir "
    "does not offer it; use authorization_code",
    "client_credentials": f"Maskinporten uses the JWT-bearer grant instead; use {JWT_BEARER}",
}
# Digdir's docs mention a short form; written out, it cannot differ from what Digdir returns.
_SHORT_GRANTS: Final = frozenset({"jwt-bearer", "jwt_bearer", "jwt_bearer_token"})


def items(value: object) -> list[tuple[int, object]]:
    """The items of a list with their index; a non-list (a schema error) yields nothing."""
    return list(enumerate(value)) if isinstance(value, list | tuple) else []


def strings(value: object) -> list[tuple[int, str]]:
    """The string items of a list with their index."""
    return [(i, v) for i, v in items(value) if isinstance(v, str)]


def one_of(values: tuple[str, ...]) -> str:
    return "use one of: " + ", ".join(values)


def default_note(client: Mapping[str, Any], name: str) -> str:
    """Tells the user when a problem comes from a value they did not write."""
    return "" if name in client else " (Digdir's default)"


def check_combination(
    client: Mapping[str, Any], itype: str, app: str, defaults: Mapping[str, Any], report: Report
) -> None:
    """All table rules for a client of a valid integration type and application type;
    ``defaults`` are :func:`selvsync.rules.fields.effective_defaults` for that pair."""
    method = _check_auth_method(client, itype, app, defaults, report)
    grants = _check_grants(client, itype, defaults, report)
    _check_scopes(client, itype, report)
    _check_pkce(client, itype, app, report)
    _check_ansattporten(client, itype, report)
    _check_keys_need_private_key_jwt(client, method, report)
    _check_refresh_within_authorization(client, grants, defaults, report)


def _check_auth_method(
    client: Mapping[str, Any], itype: str, app: str, defaults: Mapping[str, Any], report: Report
) -> str | None:
    name = "token_endpoint_auth_method"
    method = client.get(name, defaults[name])
    if method not in AUTH_METHODS:
        report((name,), f"unknown {name} {method!r}", one_of(AUTH_METHODS))
        return None
    if itype in MACHINE_TYPES and method != "private_key_jwt":
        report(
            (name,),
            f"{itype} clients must use private_key_jwt, not {method}",
            f"set {name}: private_key_jwt and declare keys (or use the enterprise certificate)",
        )
    elif itype in LOGIN_TYPES and app in PUBLIC_APPS and method != "none":
        report(
            (name,),
            f"{app} apps are public clients and cannot keep a secret: {name} must be none, "
            f"not {method}{default_note(client, name)}",
            f"set {name}: none (PKCE protects the code), or use application_type: web",
        )
    elif itype in LOGIN_TYPES and app == "web" and method == "none":
        report(
            (name,),
            f"web clients keep a secret or key: {name} none is only for browser and native apps",
            "use private_key_jwt (recommended), client_secret_basic or client_secret_post",
        )
    return str(method)


def _check_grants(
    client: Mapping[str, Any], itype: str, defaults: Mapping[str, Any], report: Report
) -> set[str]:
    grants = strings(client.get("grant_types", defaults["grant_types"]))
    machine = itype in MACHINE_TYPES
    allowed = (JWT_BEARER,) if machine else LOGIN_GRANTS
    for i, grant in grants:
        path: Path = ("grant_types", i)
        if grant in _FORBIDDEN_GRANTS:
            report(path, f"grant type {grant} is not allowed", _FORBIDDEN_GRANTS[grant])
        elif grant in _SHORT_GRANTS:
            report(path, f"write the grant type in full, not {grant!r}", f"use {JWT_BEARER}")
        elif grant not in (JWT_BEARER, *LOGIN_GRANTS):
            report(path, f"unknown grant type {grant!r}", one_of(allowed))
        elif grant not in allowed:
            what = "log users in" if machine else "use the JWT-bearer grant"
            report(path, f"{itype} clients do not {what}: {grant} is not allowed", one_of(allowed))
    names = {g for _, g in grants}
    if machine and JWT_BEARER not in names:
        report(("grant_types",), f"{itype} clients need the JWT-bearer grant", f"add {JWT_BEARER}")
    elif not machine and "authorization_code" not in names:
        message = (
            "refresh_token requires authorization_code"
            if "refresh_token" in names
            else f"{itype} clients need the authorization_code grant"
        )
        report(("grant_types",), message, "add authorization_code to grant_types")
    return names


def _check_scopes(client: Mapping[str, Any], itype: str, report: Report) -> None:
    declared = client.get("scopes")
    scopes = strings(declared)
    for i, scope in scopes:
        path: Path = ("scopes", i)
        if not scope.strip() or re.search(r"\s", scope):
            report(path, f"scope {scope!r} is empty or has spaces", "one scope per list item")
        elif itype == "idporten" and scope not in _OIDC_SCOPES:
            report(
                path,
                f"idporten clients can only have openid, profile, eidas and no_pid, not {scope}",
                "to call an API on behalf of the user, use integration_type: api_klient",
            )
        elif itype == "maskinporten" and scope in _OIDC_SCOPES:
            report(path, f"{scope} is a login scope; Maskinporten issues API scopes", "remove it")
        elif itype == "krr" and scope not in KRR_SCOPES:
            report(
                path, f"krr clients can only have the KRR scopes, not {scope}", one_of(KRR_SCOPES)
            )
    if itype == "maskinporten" and not scopes:
        report(
            ("scopes",),
            "maskinporten clients need at least one scope",
            'add at least one scope, e.g. "org:api.read"',
        )
    elif itype == "krr" and isinstance(declared, list) and not declared:
        report(("scopes",), "krr clients need scopes", "omit scopes to get both KRR scopes")


def _check_pkce(client: Mapping[str, Any], itype: str, app: str, report: Report) -> None:
    if itype not in LOGIN_TYPES:
        return
    path: Path = ("code_challenge_method",)
    value = client.get("code_challenge_method", "S256")
    if value not in ("S256", "none"):
        report(path, f"unknown code_challenge_method {value!r}", "use S256 (plain is not offered)")
    elif value == "none" and app in PUBLIC_APPS:
        report(
            path,
            f"{app} apps must use PKCE: code_challenge_method none is refused",
            "set code_challenge_method: S256, or omit it (S256 is the default)",
        )


def _check_ansattporten(client: Mapping[str, Any], itype: str, report: Report) -> None:
    """Ansattporten: PKCE with S256 for every application type, and SSO always off.

    Digdir forces ``sso_disabled: true`` on Ansattporten clients whatever is sent, so a
    declared ``false`` could never converge: every plan would show it and every apply would
    send it in vain. An error, not a warning, so it is fixed once in the YAML.
    """
    if itype != "ansattporten":
        return
    if client.get("code_challenge_method", "S256") == "none":
        report(
            ("code_challenge_method",),
            "ansattporten clients must use PKCE with S256: code_challenge_method none is "
            "refused",
            "set code_challenge_method: S256, or omit it (S256 is the default)",
        )
    if client.get("sso_disabled") is False:
        report(
            ("sso_disabled",),
            "Digdir forces sso_disabled: true on ansattporten clients; false would never "
            "take effect",
            "remove sso_disabled (true is Digdir's setting for ansattporten)",
        )


def _check_keys_need_private_key_jwt(
    client: Mapping[str, Any], method: str | None, report: Report
) -> None:
    # Keys only sign client assertions; with any other auth method they are dead weight, and
    # usually mean token_endpoint_auth_method was forgotten (web default: client_secret_basic).
    # The converse is NOT checked: a private_key_jwt client without keys may use the
    # enterprise certificate (x5c) or keys uploaded out of band.
    if not client.get("keys") or method in (None, "private_key_jwt"):
        return
    note = default_note(client, "token_endpoint_auth_method")
    report(
        ("keys",),
        f"keys are only used with private_key_jwt; token_endpoint_auth_method is {method}{note}",
        "set token_endpoint_auth_method: private_key_jwt, or remove keys",
    )


def _check_refresh_within_authorization(
    client: Mapping[str, Any], grants: set[str], defaults: Mapping[str, Any], report: Report
) -> None:
    # A refresh token cannot outlive its authorization; a longer lifetime would be cut short
    # at login time without anyone noticing.
    if "refresh_token" not in grants:
        return
    refresh = client.get("refresh_token_lifetime", defaults["refresh_token_lifetime"])
    auth = client.get("authorization_lifetime", defaults["authorization_lifetime"])
    if _positive_int(refresh) and _positive_int(auth) and refresh > auth:
        report(
            ("refresh_token_lifetime",),
            f"refresh_token_lifetime {refresh} is longer than authorization_lifetime {auth}"
            f"{default_note(client, 'authorization_lifetime')}",
            f"lower refresh_token_lifetime, or raise authorization_lifetime to at least {refresh}",
        )


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
