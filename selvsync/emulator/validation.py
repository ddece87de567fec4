"""Digdir's client rules and defaults, implemented independently of selvsync.rules.

``validate_client`` collects every problem in a body before answering, as Digdir's API does,
so one 400 lists them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .errors import ApiProblem, FieldError

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_TYPES = frozenset({"idporten", "api_klient", "ansattporten"})
MACHINE_TYPES = frozenset({"maskinporten", "krr"})
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
LOGIN_DEFAULT_SCOPES = ("openid", "profile")
KRR_SCOPES = ("krr:global/kontaktinformasjon.read", "krr:global/digitalpost.read")
IDPORTEN_EXTRA_SCOPES = frozenset({"eidas", "no_pid"})
FORBIDDEN_GRANTS = frozenset({"implicit", "password", "client_credentials"})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

STRING_FIELDS = frozenset({
    "integration_type", "application_type", "client_name", "description", "client_uri",
    "logo_uri", "token_endpoint_auth_method", "frontchannel_logout_uri", "refresh_token_usage",
    "code_challenge_method", "backchannel_logout_uri",
})
LIST_FIELDS = frozenset({"grant_types", "scopes", "redirect_uris", "post_logout_redirect_uris"})
BOOL_FIELDS = frozenset({"frontchannel_logout_session_required", "sso_disabled"})
LIFETIME_FIELDS = {
    "authorization_lifetime": 7200,
    "access_token_lifetime": 120,
    "refresh_token_lifetime": 600,
}
WRITABLE_FIELDS = STRING_FIELDS | LIST_FIELDS | BOOL_FIELDS | frozenset(LIFETIME_FIELDS)
READ_ONLY_FIELDS = frozenset({
    "client_id", "client_orgno", "supplier_orgno", "created", "last_updated", "active",
    "client_secret", "jwks_uri", "backchannel_logout_session_required", "onbehalfof",
})
# Fields whose value Digdir's server decides, whatever a body says (Emulator option
# ``ansattporten_sso_forced``, see docs/emulator.md).
FORCED: dict[str, dict[str, Any]] = {"ansattporten": {"sso_disabled": True}}

ENUMS: dict[str, frozenset[str]] = {
    "integration_type": LOGIN_TYPES | MACHINE_TYPES,
    "application_type": frozenset({"web", "browser", "native"}),
    "token_endpoint_auth_method": SECRET_METHODS | frozenset({"private_key_jwt", "none"}),
    "refresh_token_usage": frozenset({"ONETIME", "REUSE"}),
    "code_challenge_method": frozenset({"S256", "none"}),
}


class _Problems:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str | None, message: str) -> None:
        self.items.append(FieldError(message, field))

    def raise_if_any(self) -> None:
        if self.items:
            raise ApiProblem(400, list(self.items))


def validate_client(body: object, current: Mapping[str, Any] | None = None, *,
                    forced: bool = True) -> dict[str, Any]:
    """The writable fields to store, defaults filled, or ApiProblem(400) naming every problem.

    ``current`` is the stored client on PUT: ``integration_type`` may be omitted there but
    never changed. Read-only fields are ignored. Fields the emulator does not know are kept
    as sent (Digdir adds fields over time and accepts ones it does not use), so a client that
    PUTs back what it read loses nothing. ``forced`` applies ``FORCED``.
    """
    problems = _Problems()
    if not isinstance(body, dict):
        raise ApiProblem(400, [FieldError("the request body must be a JSON object")])
    given = _typed_fields(body, problems)
    kind = _integration_type(given, current, problems)
    if kind is None:
        problems.raise_if_any()
        raise AssertionError("integration_type problems are always reported")
    client = _with_defaults(kind, given)
    if forced:
        client.update(FORCED.get(kind, {}))
    _check_required(client, problems)
    _check_combination(kind, client, problems)
    _check_scopes(kind, client, problems)
    _check_uris(kind, client, problems)
    for name in LIFETIME_FIELDS:
        if client[name] <= 0:
            problems.add(name, "must be a positive number of seconds (omit it for the default)")
    problems.raise_if_any()
    return client


def valid_orgno(value: object) -> bool:
    """Nine digits with a valid MOD11 check digit, as Brønnøysundregistrene issues them."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{9}", value):
        return False
    weights = (3, 2, 7, 6, 5, 4, 3, 2)
    remainder = sum(w * int(d) for w, d in zip(weights, value, strict=False)) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return check != 10 and check == int(value[8])


def _typed_fields(body: Mapping[str, Any], problems: _Problems) -> dict[str, Any]:
    given: dict[str, Any] = {}
    for name, value in body.items():
        if name in READ_ONLY_FIELDS:
            continue
        if value is None:
            continue
        if name not in WRITABLE_FIELDS:
            given[name] = value
            continue
        message = _type_problem(name, value)
        if message:
            problems.add(name, message)
        else:
            given[name] = _dedupe(value) if name in LIST_FIELDS else value
    return given


def _type_problem(name: str, value: object) -> str | None:
    if name in STRING_FIELDS:
        if not isinstance(value, str):
            return "must be a string"
        allowed = ENUMS.get(name)
        if allowed is not None and value not in allowed:
            return f"must be one of {', '.join(sorted(allowed))}"
    elif name in LIST_FIELDS:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return "must be a list of non-empty strings"
    elif name in BOOL_FIELDS:
        if not isinstance(value, bool):
            return "must be true or false"
    elif isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer number of seconds"
    return None


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _integration_type(given: Mapping[str, Any], current: Mapping[str, Any] | None,
                      problems: _Problems) -> str | None:
    requested = given.get("integration_type")
    if current is None:
        if requested is None and "integration_type" not in {p.field for p in problems.items}:
            problems.add("integration_type", "is required")
        return requested if isinstance(requested, str) else None
    stored = str(current["integration_type"])
    if requested is not None and requested != stored:
        problems.add("integration_type",
                     f"cannot be changed (is {stored}); create a new client instead")
    return stored


def _with_defaults(kind: str, given: Mapping[str, Any]) -> dict[str, Any]:
    login = kind in LOGIN_TYPES
    client: dict[str, Any] = {"integration_type": kind, "application_type": "web"}
    client.update(given)
    public = client["application_type"] in ("browser", "native")
    if "token_endpoint_auth_method" not in client:
        client["token_endpoint_auth_method"] = (
            "none" if login and public else "client_secret_basic" if login else "private_key_jwt"
        )
    client.setdefault("grant_types", ["authorization_code"] if login else [JWT_BEARER])
    scopes = list(client.get("scopes", []))
    if login:
        scopes = [s for s in LOGIN_DEFAULT_SCOPES if s not in scopes] + scopes
    elif kind == "krr" and not scopes:
        scopes = list(KRR_SCOPES)
    client["scopes"] = scopes
    client.setdefault("redirect_uris", [])
    client.setdefault("post_logout_redirect_uris", [])
    for name, default in LIFETIME_FIELDS.items():
        client.setdefault(name, default)
    client.setdefault("refresh_token_usage", "ONETIME")
    client.setdefault("sso_disabled", False)
    client.setdefault("frontchannel_logout_session_required", False)
    if login:
        client.setdefault("code_challenge_method", "S256")
    return client


def _check_required(client: Mapping[str, Any], problems: _Problems) -> None:
    for name in ("client_name", "description"):
        if not str(client.get(name, "")).strip():
            problems.add(name, "is required")


def _check_combination(kind: str, client: Mapping[str, Any], problems: _Problems) -> None:
    app_type = client["application_type"]
    method = client["token_endpoint_auth_method"]
    grants = client["grant_types"]
    if kind in MACHINE_TYPES:
        if app_type != "web":
            problems.add("application_type", f"{kind} clients must be web")
        if method != "private_key_jwt":
            problems.add("token_endpoint_auth_method", f"{kind} clients must use private_key_jwt")
        allowed_grants = {JWT_BEARER}
    else:
        if app_type == "web" and method == "none":
            problems.add("token_endpoint_auth_method",
                         "web clients must authenticate (client_secret_* or private_key_jwt)")
        if app_type != "web" and method != "none":
            problems.add("token_endpoint_auth_method",
                         f"{app_type} clients are public clients and must use none")
        if kind == "ansattporten" and client.get("code_challenge_method") != "S256":
            problems.add("code_challenge_method", "ansattporten clients must use PKCE (S256)")
        elif app_type != "web" and client.get("code_challenge_method") != "S256":
            problems.add("code_challenge_method",
                         f"{app_type} clients must use PKCE (S256)")
        allowed_grants = {"authorization_code", "refresh_token"}
    for grant in grants:
        if grant in FORBIDDEN_GRANTS:
            problems.add("grant_types", f"the {grant} grant is not allowed")
        elif grant not in allowed_grants:
            problems.add("grant_types", f"{grant} is not allowed for {kind} clients")
    if kind in MACHINE_TYPES and JWT_BEARER not in grants:
        problems.add("grant_types", f"{kind} clients need the {JWT_BEARER} grant")
    if not grants:
        problems.add("grant_types", "at least one grant type is required")


def _check_scopes(kind: str, client: Mapping[str, Any], problems: _Problems) -> None:
    scopes: list[str] = client["scopes"]
    for scope in scopes:
        if any(c.isspace() for c in scope):
            problems.add("scopes", f"scope {scope!r} must not contain whitespace")
    if kind == "maskinporten" and not scopes:
        problems.add("scopes", "maskinporten clients need at least one scope")
    elif kind == "krr":
        for scope in scopes:
            if scope not in KRR_SCOPES:
                problems.add("scopes", f"krr clients only get the KRR scopes, not {scope}")
    elif kind == "idporten":
        for scope in scopes:
            if scope not in LOGIN_DEFAULT_SCOPES and scope not in IDPORTEN_EXTRA_SCOPES:
                problems.add("scopes",
                             f"idporten clients may only add eidas and no_pid, not {scope}")


def _check_uris(kind: str, client: Mapping[str, Any], problems: _Problems) -> None:
    native = client["application_type"] == "native"
    for name in ("redirect_uris", "post_logout_redirect_uris"):
        uris: list[str] = client[name]
        if kind in LOGIN_TYPES and not uris:
            problems.add(name, f"{kind} clients need at least one")
        for uri in uris:
            message = _redirect_problem(uri, native)
            if message:
                problems.add(name, f"{uri!r} {message}")
    # client_uri and logo_uri: Digdir states no rule, and has accepted a relative logo_uri
    # ("bilde.gif"), so any string goes.
    logout = client.get("frontchannel_logout_uri")
    if logout is not None:
        message = _redirect_problem(logout, native=False)
        if message:
            problems.add("frontchannel_logout_uri", message)
        elif not any(_same_domain(logout, uri) for uri in client["redirect_uris"]):
            problems.add("frontchannel_logout_uri", "must share a domain with a redirect URI")
    backchannel = client.get("backchannel_logout_uri")
    if backchannel is not None:
        message = _redirect_problem(backchannel, native=False)
        if message:
            problems.add("backchannel_logout_uri", message)
        elif not any(_same_host(backchannel, uri) for uri in client["redirect_uris"]):
            problems.add("backchannel_logout_uri",
                         "its host must be the host of one of the redirect URIs")


def _redirect_problem(uri: str, native: bool) -> str | None:
    if any(c.isspace() for c in uri):
        return "must not contain whitespace"
    parts = urlsplit(uri)
    if not parts.scheme:
        return "must be an absolute URI"
    if parts.fragment:
        return "must not contain a fragment"
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            return "must name a host"
        if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
            return "must use https (http only for localhost)"
    elif not native:
        return "must use https (custom schemes only for native clients)"
    return None


def _registrable(host: str) -> str:
    # An approximation of the registrable domain: the last two labels. Good enough to tell
    # login.example.no and example.no apart from other.no without a public-suffix list.
    return ".".join(host.lower().rstrip(".").split(".")[-2:])


def _same_host(a: str, b: str) -> bool:
    host_a, host_b = urlsplit(a).hostname, urlsplit(b).hostname
    return bool(host_a and host_b and host_a == host_b)


def _same_domain(a: str, b: str) -> bool:
    host_a, host_b = urlsplit(a).hostname, urlsplit(b).hostname
    return bool(host_a and host_b and _registrable(host_a) == _registrable(host_b))
