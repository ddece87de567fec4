"""Normalise desired and live clients and compare them field by field.

Digdir fills defaults (lifetimes, openid/profile scopes), may reorder lists and returns
read-only fields; without normalisation every plan after an apply would show a diff. Which
fields are writable, set-valued or defaulted is the field catalogue's (selvsync.rules.fields).
Rules:

* only writable fields are compared; read-only ones (client_id, created, ...) never differ;
* redirect URIs, logout URIs, scopes and grant types are sets;
* a field the YAML omits equals the live value when that value is Digdir's default for the
  kind of client, or absent; where Digdir forces a value (Ansattporten's ``sso_disabled:
  true``), the ordinary default of a server that does not force it is no change either;
* login clients always get ``openid`` and ``profile``: they are added to the declared scopes
  before comparing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from selvsync.rules.fields import (
    SERVER_ADDED_SCOPES,
    SET_FIELDS,
    WRITABLE_FIELDS,
    effective_defaults,
)


@dataclass(frozen=True)
class FieldChange:
    """One field's before and after. Lists are sorted; ``None`` means absent."""

    field: str
    before: Any
    after: Any

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


def writable(client: Mapping[str, Any]) -> dict[str, Any]:
    """The writable Digdir fields of a client, as sent in a POST or PUT body."""
    return {k: client[k] for k in WRITABLE_FIELDS if k in client and client[k] is not None}


def canonical(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field in SET_FIELDS:
        items = sorted({str(v) for v in value})
        return items or None
    if isinstance(value, str) and value == "":
        return None
    return value


def compare(
    desired: Mapping[str, Any], live: Mapping[str, Any], ignore: Iterable[str] = ()
) -> list[FieldChange]:
    """Field-level changes needed to turn ``live`` into ``desired`` (writable fields only).

    Fields in ``ignore`` belong to the portal: never compared (``description``, which holds
    the marker, and ``integration_type`` always are)."""
    skip = frozenset(ignore) - {"description", "integration_type"}
    body = writable(desired)
    itype = str(body.get("integration_type", ""))
    defaults = effective_defaults(itype, body.get("application_type"))
    unforced = effective_defaults(itype, body.get("application_type"), forced=False)
    added = SERVER_ADDED_SCOPES.get(itype, frozenset())
    changes: list[FieldChange] = []
    for field in WRITABLE_FIELDS:
        if field in skip:
            continue
        held = live.get(field)
        if field in body:
            have = canonical(field, held)
            want = canonical(field, body[field])
            if field == "scopes" and added:
                want = sorted(set(want or ()) | added)
        else:
            # Omitted in YAML: equal when live holds Digdir's default or nothing at all.
            if held is None:
                continue
            have = canonical(field, held)
            if have is None:
                continue
            want = canonical(field, defaults.get(field))
            if want != have and have == canonical(field, unforced.get(field)):
                continue
        if want != have:
            changes.append(FieldChange(field, have, want))
    return changes
