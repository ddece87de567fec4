"""What selvsync knows about Maskinporten scopes: fields, server defaults, names, ownership.

Digdir's scope fields are spelled as the API spells them (docs/scopes.md). The server
fills defaults for omitted fields and a PUT is a full replace, so a field the YAML omits is
compared against (and reset to) its default; fields selvsync does not know are carried over
from the live scope unchanged, never erased.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from selvsync.errors import Diagnostic, Position
from selvsync.rules.merchant import orgno_problem

PathKey = tuple[str | int, ...]
Locate = Callable[[PathKey], Position | None]

BOOL_FIELDS: Final = (
    "accessible_for_all",
    "requires_user_consent",
    "requires_user_authentication",
    "requires_pseudonymous_tokens",
    "protected",
    "supports_european_businesses",
)
INT_FIELDS: Final = ("at_max_age", "authorization_max_lifetime")
STRING_FIELDS: Final = (
    "description",
    "long_description",
    "delegation_source",
    "enforced_aud_for_access_token",
)
INTEGRATION_TYPES: Final = ("maskinporten", "api_klient", "ansattporten", "idporten", "krr")
CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "visibility": ("PUBLIC", "PRIVATE", "INTERNAL"),
    "token_type": ("SELF_CONTAINED", "OPAQUE"),
}
# What the server answers for a field the request left out.
DEFAULTS: Final[dict[str, Any]] = {
    "allowed_integration_types": ["maskinporten"],
    "visibility": "PUBLIC",
    "token_type": "SELF_CONTAINED",
    "at_max_age": 0,
    "authorization_max_lifetime": 0,
    **dict.fromkeys(BOOL_FIELDS, False),
}
READ_ONLY: Final = frozenset({"name", "owner_orgno", "created", "last_updated", "active"})
IDENTITY: Final = ("prefix", "subscope")
TRANSLATION: Final = re.compile(r"^(long_)?description#[a-z]{2}$")
NAME: Final = re.compile(r"^[a-z0-9æøå_-]+:[a-z0-9æøå_-]+(?:[/:.][a-z0-9æøå_-]+)*$")
# selvsync's own per-scope settings; everything else in a scope mapping is a Digdir field.
SELVSYNC_SCOPE_SETTINGS: Final = frozenset(
    {"extends", "consumers", "consumer_groups", "protect", "regrant_denied"}
)


def is_field(name: str) -> bool:
    """Whether ``name`` is a writable Digdir scope field selvsync compares."""
    return (
        name in DEFAULTS
        or name in STRING_FIELDS
        or TRANSLATION.match(name) is not None
    )


def compared(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The writable fields of a (desired or live) scope, server defaults filled in and lists
    sorted, so that equal scopes compare equal."""
    names = {k for k in fields if is_field(k)} | set(DEFAULTS)
    out: dict[str, Any] = {}
    for name in sorted(names):
        value = fields.get(name)
        if value is None:
            value = DEFAULTS.get(name)
        if isinstance(value, list):
            value = sorted(dict.fromkeys(str(v) for v in value))
        if value is not None:
            out[name] = value
    return out


def owns(owned: Iterable[str], name: str) -> bool:
    """Whether scope ``name`` falls under an owned prefix (``skatt``) or pattern
    (``skatt:demo/*``)."""
    for entry in owned:
        if ":" in entry:
            if fnmatch.fnmatchcase(name, entry):
                return True
        elif name.startswith(entry + ":"):
            return True
    return False


def check_scope(
    name: str, body: Mapping[str, Any], owned: Iterable[str], locate: Locate, field: str
) -> list[Diagnostic]:
    """Offline checks of one declared scope: its name, ownership and field values."""
    out: list[Diagnostic] = []

    def report(path: PathKey, message: str, hint: str = "") -> None:
        where = ".".join([field, *(str(p) for p in path)])
        out.append(Diagnostic(locate(path), where, message, hint))

    if not NAME.match(name):
        report(
            (),
            f"'{name}' is not a scope name",
            "write prefix:subscope in lower case, e.g. skatt:demo.read or skatt:demo/api.read",
        )
    elif not owns(owned, name):
        report(
            (),
            f"scope '{name}' is not under a prefix this environment owns",
            "add its prefix under `scopes: {prefixes: [...]}` for this environment in "
            "selvsync.yaml",
        )
    description = body.get("description")
    if not isinstance(description, str) or not description.strip():
        report(("description",), "a scope needs a description", "Digdir requires one")
    for key, value in body.items():
        if key in SELVSYNC_SCOPE_SETTINGS or value is None:
            continue
        if key in READ_ONLY or key in IDENTITY:
            report((key,), f"{key} is set by the scope's name or by Digdir", "remove it")
        elif key in BOOL_FIELDS and not isinstance(value, bool):
            report((key,), "must be true or false")
        elif key in INT_FIELDS and (isinstance(value, bool) or not isinstance(value, int)
                                    or value < 0):
            report((key,), "must be a whole number of seconds, 0 or more")
        elif key in CHOICES and value not in CHOICES[key]:
            report((key,), f"must be one of {', '.join(CHOICES[key])}")
        elif key == "allowed_integration_types":
            bad = [t for t in value if t not in INTEGRATION_TYPES] if isinstance(value, list) \
                else [value]
            if bad:
                report((key,), f"unknown integration type(s) {bad}",
                       f"use {', '.join(INTEGRATION_TYPES)}")
        elif not is_field(key):
            report((key,), f"'{key}' is not a scope field",
                   "spell Digdir's fields as the API does (description#en, at_max_age, ...)")
    return out


def check_consumer(orgno: object, position: Position | None, field: str) -> list[Diagnostic]:
    """A consumer's organisation number: nine digits with a valid MOD11 check digit."""
    problem = orgno_problem(orgno)
    return [] if problem is None else [Diagnostic(position, field, *problem)]
