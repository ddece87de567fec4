"""THE field catalogue: every Digdir client field selvsync knows, one row per field.

Adding a Digdir field = one row here (+ its JSON Schema in selvsync/schemas/). The diff
engine (selvsync.plan.diff), the rules, the importer (selvsync.scaffold.importer) and the
renderers read the derived names below (WRITABLE_FIELDS, SET_FIELDS, IMMUTABLE_FIELDS,
DEFAULTS, SERVER_ADDED_SCOPES, ...) and never keep their own lists.

Server defaults come in layers: "common" for every client, then "login" or the machine type
("maskinporten", "krr"), then "public_app" for browser/native login clients, then
"ansattporten" (values Digdir forces on Ansattporten clients: ``sso_disabled: true``);
:func:`effective_defaults` merges them. Lists are tuples so nobody mutates the shared rows.
Documented by Digdir: the lifetimes, ONETIME, openid+profile, the KRR scopes. RFC 7591's
default: client_secret_basic for web clients. Assumed (undocumented): machine clients get the
same lifetimes and booleans as login ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from selvsync.rules.combinations import (
    JWT_BEARER,
    KRR_SCOPES,
    LOGIN_TYPES,
    MACHINE_TYPES,
    PUBLIC_APPS,
)

LAYERS: Final = ("common", "login", "public_app", "maskinporten", "krr", "ansattporten")
_MACHINE: Final = ("maskinporten", "krr")


@dataclass(frozen=True)
class Field:
    """One Digdir client field."""

    name: str
    writable: bool = True  # sent in POST/PUT bodies and compared by the diff engine
    set_valued: bool = False  # a list whose order means nothing (compared as a set)
    immutable: bool = False  # Digdir cannot change it: a change forces replacement
    # Digdir's default per layer (see the module docstring); an omitted field that equals
    # it is not a change.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # Values Digdir adds whatever the client declares, per layer (login clients' scopes).
    server_added: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # A sanity limit for a number of seconds: (maximum, the same in words).
    max_seconds: tuple[int, str] | None = None
    # For a read-only field (writable=False): what to tell someone who writes it in YAML.
    read_only_hint: str = ""


_FROM_RESPONSES: Final = "remove it; it comes from Digdir's responses, not from configuration"

# Writable fields in the order the API lists them (and request bodies are built in).
FIELDS: Final[tuple[Field, ...]] = (
    Field("integration_type", immutable=True),
    Field("application_type", defaults={"common": "web"}),
    Field("client_name"),
    Field("description"),
    Field("client_uri"),
    Field("logo_uri"),
    Field(
        "token_endpoint_auth_method",
        defaults={
            "login": "client_secret_basic",
            "public_app": "none",
            **dict.fromkeys(_MACHINE, "private_key_jwt"),
        },
    ),
    Field(
        "grant_types",
        set_valued=True,
        defaults={"login": ("authorization_code",), **dict.fromkeys(_MACHINE, (JWT_BEARER,))},
    ),
    Field(
        "scopes",
        set_valued=True,
        defaults={"login": ("openid", "profile"), "maskinporten": (), "krr": KRR_SCOPES},
        server_added={"login": ("openid", "profile")},
    ),
    Field("redirect_uris", set_valued=True, defaults=dict.fromkeys(_MACHINE, ())),
    Field("post_logout_redirect_uris", set_valued=True, defaults=dict.fromkeys(_MACHINE, ())),
    Field("frontchannel_logout_uri"),
    Field("frontchannel_logout_session_required", defaults={"common": False}),
    # Login clients only; its host must be a redirect URI's host (rules.uris).
    Field("backchannel_logout_uri"),
    Field(
        "authorization_lifetime",
        defaults={"common": 7200},
        max_seconds=(365 * 86400, "one year"),
    ),
    Field("access_token_lifetime", defaults={"common": 120}, max_seconds=(86400, "one day")),
    Field(
        "refresh_token_lifetime",
        defaults={"common": 600},
        max_seconds=(365 * 86400, "one year"),
    ),
    Field("refresh_token_usage", defaults={"common": "ONETIME"}),
    # Digdir forces sso_disabled: true on Ansattporten clients whatever is sent.
    Field("sso_disabled", defaults={"common": False, "ansattporten": True}),
    Field("code_challenge_method", defaults={"login": "S256"}),
    # Read-only: Digdir sets them; declaring one is an error with this hint.
    Field(
        "client_orgno",
        writable=False,
        read_only_hint="remove it; the owner is the organisation in the access token",
    ),
    Field(
        "supplier_orgno",
        writable=False,
        read_only_hint="remove it; Digdir sets it when a supplier creates the client",
    ),
    Field(
        "backchannel_logout_session_required",
        writable=False,
        read_only_hint="remove it; Digdir sets it (with backchannel_logout_uri)",
    ),
    Field("created", writable=False, read_only_hint=_FROM_RESPONSES),
    Field("last_updated", writable=False, read_only_hint=_FROM_RESPONSES),
    Field(
        "active",
        writable=False,
        read_only_hint="remove it; a client removed from the YAML is deactivated",
    ),
    Field(
        "jwks_uri",
        writable=False,
        read_only_hint="remove it; declare public keys with keys: (a JWKS file under keys/)",
    ),
)

BY_NAME: Final[Mapping[str, Field]] = MappingProxyType({f.name: f for f in FIELDS})

# ---------------------------------------------------------------- derived from the rows

WRITABLE_FIELDS: Final[tuple[str, ...]] = tuple(f.name for f in FIELDS if f.writable)
SET_FIELDS: Final = frozenset(f.name for f in FIELDS if f.set_valued)
IMMUTABLE_FIELDS: Final = frozenset(f.name for f in FIELDS if f.immutable)
READ_ONLY: Final[Mapping[str, str]] = MappingProxyType(
    {f.name: f.read_only_hint for f in FIELDS if not f.writable}
)
MAX_SECONDS: Final[Mapping[str, tuple[int, str]]] = MappingProxyType(
    {f.name: f.max_seconds for f in FIELDS if f.max_seconds is not None}
)
DEFAULTS: Final[Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {
        layer: MappingProxyType({f.name: f.defaults[layer] for f in FIELDS if layer in f.defaults})
        for layer in LAYERS
    }
)
# Scopes Digdir adds to every login client whatever it declares: the diff engine compares
# declared | SERVER_ADDED_SCOPES.get(type, frozenset()) with the live set.
SERVER_ADDED_SCOPES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {t: frozenset(BY_NAME["scopes"].server_added["login"]) for t in LOGIN_TYPES}
)

# Values of token_endpoint_auth_method with which Digdir issues a client secret.
SECRET_METHODS: Final = frozenset({"client_secret_basic", "client_secret_post"})


def effective_defaults(
    integration_type: str, application_type: str | None = None, *, forced: bool = True
) -> dict[str, Any]:
    """Digdir's server-side defaults for a client of this kind, as a fresh mutable dict.

    A field missing from the YAML and equal to its default here is not a change. Unknown
    integration types (e.g. eformidling) get only the common defaults. ``forced=False``
    leaves out the values Digdir forces (the "ansattporten" layer): what a server that does
    not force them keeps, which the diff engine also accepts for an omitted field.
    """
    merged: dict[str, Any] = dict(DEFAULTS["common"])
    if integration_type in LOGIN_TYPES:
        merged.update(DEFAULTS["login"])
        if application_type in PUBLIC_APPS:
            merged.update(DEFAULTS["public_app"])
    elif integration_type in MACHINE_TYPES:
        merged.update(DEFAULTS[integration_type])
    if integration_type == "ansattporten" and forced:
        merged.update(DEFAULTS["ansattporten"])
    if application_type is not None:
        merged["application_type"] = application_type
    return {k: list(v) if isinstance(v, tuple) else v for k, v in merged.items()}
