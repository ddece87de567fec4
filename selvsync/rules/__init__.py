"""Digdir's semantic rules for declared clients and merchant data. Pure functions, no I/O.

The config loader hands over each client's effective fields, spelled as Digdir's API spells
them and already checked by the JSON Schema for *types*. These rules check *meaning*: the
combination table (integration type x application type x auth method x grants x scopes),
URIs, lifetimes, fields that must not be written. Every problem is collected, never only the
first. A value of the wrong type is skipped rather than crashed on: the schema reported it.

This module holds the client rules and the public API; the field catalogue (writable and
read-only fields, server defaults) lives in :mod:`selvsync.rules.fields`, URI and e-mail
syntax in :mod:`selvsync.rules.uris`, the combination table in
:mod:`selvsync.rules.combinations`, merchant data and organisation numbers in
:mod:`selvsync.rules.merchant`. Source: Digdir's API documentation ("Allowed combinations",
"Other rules") and client-registration page (felleslosninger/docs ``oidc_func_clientreg``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from selvsync.errors import Diagnostic, Position
from selvsync.rules.combinations import (
    JWT_BEARER,
    KRR_SCOPES,
    LOGIN_TYPES,
    MACHINE_TYPES,
    check_combination,
    items,
    one_of,
    strings,
)
from selvsync.rules.fields import (
    DEFAULTS,
    MAX_SECONDS,
    READ_ONLY,
    SERVER_ADDED_SCOPES,
    effective_defaults,
)
from selvsync.rules.merchant import check_merchant_fields, orgno_problem, valid_orgno
from selvsync.rules.uris import (
    Path,
    check_backchannel_logout_uri,
    check_frontchannel_logout_uri,
    check_https_uri,
    check_redirect_uri,
)

__all__ = [
    "DEFAULTS",
    "JWT_BEARER",
    "KRR_SCOPES",
    "LOGIN_TYPES",
    "MACHINE_TYPES",
    "SERVER_ADDED_SCOPES",
    "Locate",
    "Path",
    "check_client",
    "check_merchant",
    "check_orgno",
    "effective_defaults",
    "format_field",
    "valid_orgno",
]

Locate = Callable[[Path], Position | None]

_INTEGRATION_TYPES: Final = ("idporten", "api_klient", "ansattporten", "maskinporten", "krr")
_APPLICATION_TYPES: Final = ("web", "browser", "native")

_CLIENT_NAME_MAX: Final = 100  # undocumented; the name is shown on the login page

def format_field(prefix: str, path: Path) -> str:
    """``("redirect_uris", 2)`` under ``clients.app`` -> ``clients.app.redirect_uris[2]``."""
    out = prefix
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out


class _Reporter:
    """Collects the diagnostics for one object (a client or a merchant block)."""

    def __init__(self, locate: Locate, prefix: str) -> None:
        self.locate = locate
        self.prefix = prefix
        self.found: list[Diagnostic] = []

    def __call__(self, path: Path, message: str, hint: str) -> None:
        position = self.position(path)
        self.found.append(Diagnostic(position, format_field(self.prefix, path), message, hint))

    def position(self, path: Path) -> Position | None:
        # The nearest located ancestor: a missing field points at its parent, at worst at the
        # object itself (path ()).
        for end in range(len(path), -1, -1):
            found = self.locate(path[:end])
            if found is not None:
                return found
        return None


# ---------------------------------------------------------------- public API


def check_client(
    key: str, client: Mapping[str, Any], *, production: bool, locate: Locate, field_prefix: str
) -> list[Diagnostic]:
    """Every Digdir rule the client breaks, positioned by ``locate`` (paths relative to the
    client; a path without a position falls back to its nearest located ancestor)."""
    report = _Reporter(locate, field_prefix)
    _check_not_writable(key, client, report)
    itype = _integration_type(client, report)
    app = _application_type(client, itype, report)
    _check_client_name(client, report)
    if itype is not None and app is not None:
        # The combination table needs both; with either invalid it would only add noise.
        check_combination(client, itype, app, effective_defaults(itype, app), report)
    _check_client_uris(client, itype, app, production, report)
    _check_lifetimes(client, report)
    _check_enum(client, "refresh_token_usage", ("ONETIME", "REUSE"), report)
    return report.found


def check_merchant(
    merchant: Mapping[str, Any], *, production: bool, locate: Locate, field_prefix: str
) -> list[Diagnostic]:
    """Merchant data: notification e-mails (required in production) and invoice details."""
    report = _Reporter(locate, field_prefix)
    check_merchant_fields(merchant, production=production, report=report)
    return report.found


def check_orgno(orgno: object, locate_pos: Position | None, field: str) -> list[Diagnostic]:
    """A standalone organisation number (e.g. selvsync.yaml's ``orgno``) at a known place."""
    problem = orgno_problem(orgno)
    return [] if problem is None else [Diagnostic(locate_pos, field, *problem)]


# ---------------------------------------------------------------- client rules


def _check_not_writable(key: str, client: Mapping[str, Any], report: _Reporter) -> None:
    if "client_secret" in client:
        # Never echo the value: it may be a live secret.
        report(
            ("client_secret",),
            "literal secrets are not allowed in YAML",
            "remove it and rotate that secret; Digdir generates secrets and selvsync writes "
            f"the one for '{key}' to the environment's secret sink (a 0600 file or a command)",
        )
    for name, hint in READ_ONLY.items():
        if name in client:
            report((name,), f"{name} is read-only: Digdir sets it", hint)


def _integration_type(client: Mapping[str, Any], report: _Reporter) -> str | None:
    value = client.get("integration_type")
    path: Path = ("integration_type",)
    if value is None:
        report(path, "integration_type is required", one_of(_INTEGRATION_TYPES))
    elif value == "eformidling":
        report(
            path,
            "eformidling integrations are administered by Digdir and cannot be managed here",
            "remove this client; ask Digdir (servicedesk@digdir.no) to change it",
        )
    elif value not in _INTEGRATION_TYPES:
        report(path, f"unknown integration_type {value!r}", one_of(_INTEGRATION_TYPES))
    else:
        return str(value)
    return None


def _application_type(
    client: Mapping[str, Any], itype: str | None, report: _Reporter
) -> str | None:
    value = client.get("application_type", "web")
    path: Path = ("application_type",)
    if value not in _APPLICATION_TYPES:
        report(path, f"unknown application_type {value!r}", one_of(_APPLICATION_TYPES))
        return None
    if itype in MACHINE_TYPES and value != "web":
        report(
            path,
            f"{itype} clients run on a server: application_type must be web, not {value}",
            "remove application_type (web is the default)",
        )
    return str(value)


def _check_client_name(client: Mapping[str, Any], report: _Reporter) -> None:
    name = client.get("client_name")
    path: Path = ("client_name",)
    hint = 'add the name citizens see at login, e.g. client_name: "Min side"'
    if name is None:
        report(path, "client_name is required", hint)
    elif not isinstance(name, str):
        return
    elif not name.strip():
        report(path, "client_name is empty", hint)
    elif len(name) > _CLIENT_NAME_MAX:
        report(
            path,
            f"client_name has {len(name)} characters; at most {_CLIENT_NAME_MAX} are allowed",
            "shorten it; it is shown on the login page (details belong in description)",
        )
    elif re.search(r"[\x00-\x1f\x7f]", name):
        report(path, "client_name contains a line break or control character", "use one line")


def _check_client_uris(
    client: Mapping[str, Any],
    itype: str | None,
    app: str | None,
    production: bool,
    report: _Reporter,
) -> None:
    login_uris = ("redirect_uris", "post_logout_redirect_uris")
    if itype in MACHINE_TYPES:
        for name in (*login_uris, "frontchannel_logout_uri", "backchannel_logout_uri"):
            if client.get(name):
                report(
                    (name,),
                    f"{itype} clients do not log users in and must not have {name}",
                    f"remove {name}, or use integration_type api_klient for a login client",
                )
    else:
        for name in login_uris:
            if itype in LOGIN_TYPES and not client.get(name):
                report(
                    (name,),
                    f"login clients need at least one URI in {name}",
                    "add the address the user returns to, e.g. https://tjeneste.example.no/callback",
                )
            if app is None:
                continue  # the URI scheme rules depend on the application type
            for i, uri in items(client.get(name)):
                check_redirect_uri(
                    uri, (name, i), application_type=app, production=production, report=report
                )
        if "frontchannel_logout_uri" in client:
            check_frontchannel_logout_uri(
                client["frontchannel_logout_uri"],
                ("frontchannel_logout_uri",),
                redirect_uris=[uri for _, uri in strings(client.get("redirect_uris"))],
                production=production,
                report=report,
            )
        if "backchannel_logout_uri" in client:
            check_backchannel_logout_uri(
                client["backchannel_logout_uri"],
                ("backchannel_logout_uri",),
                redirect_uris=[uri for _, uri in strings(client.get("redirect_uris"))],
                production=production,
                report=report,
            )
    for name in ("client_uri", "logo_uri"):
        if name in client:
            check_https_uri(client[name], (name,), report=report)


def _check_lifetimes(client: Mapping[str, Any], report: _Reporter) -> None:
    for name, (maximum, in_words) in MAX_SECONDS.items():
        value = client.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            continue
        omit = f"omit the field to use Digdir's default of {DEFAULTS['common'][name]} seconds"
        if value == 0:
            report((name,), f"{name} 0 is rejected by Digdir (since 2025)", omit)
        elif value < 0:
            report((name,), f"{name} must be a positive number of seconds, not {value}", omit)
        elif value > maximum:
            report(
                (name,),
                f"{name} {value} is more than {maximum} seconds ({in_words})",
                "lifetimes are in seconds: check the unit, or " + omit,
            )


def _check_enum(
    client: Mapping[str, Any], name: str, allowed: tuple[str, ...], report: _Reporter
) -> None:
    value = client.get(name)
    if isinstance(value, str) and value not in allowed:
        report((name,), f"unknown {name} {value!r}", one_of(allowed))
