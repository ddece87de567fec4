"""Rules for onbehalfof entries: a supplier's per-customer entries on one ID-porten login client.

Source: Digdir's supplier guide and admin API (the fact sheet's "Suppliers and several
organisations"): only ID-porten login clients take entries; each has an id sent at login
(letters, digits, ``.``, ``_``, ``-``; at most 100), the customer's orgno (MOD11), a display
name, and optionally an https URL, an https logo and a description. Pure, no I/O; problems go
to ``report(path, message, hint)`` with paths relative to the client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from selvsync.rules.merchant import orgno_problem
from selvsync.rules.uris import Report

# ID-porten's own login clients (the emulator's choice for api_klient, docs/emulator.md).
ONBEHALFOF_TYPES: Final = frozenset({"idporten", "api_klient"})
ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._-]{1,100}")
NAME_MAX: Final = 100
# Entry fields in selvsync's spelling, and the other spelling Digdir's sources use.
OTHER_SPELLING: Final = {"name": "display_name", "url": "client_uri"}


def _https(value: object) -> bool:
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)


def check_entry(entry: Mapping[str, Any], path: tuple[str | int, ...], report: Report) -> None:
    """One entry as declared (``path`` is where it is, relative to the client)."""
    ident = entry.get("id")
    if not isinstance(ident, str) or not ID_PATTERN.fullmatch(ident):
        report((*path, "id"), f"onbehalfof id {ident!r} is not 1-100 letters, digits, '.', "
               "'_' or '-'", "the id is sent in the login request; e.g. nordby-kommune")
    orgno = entry.get("orgno")
    problem = orgno_problem(orgno)
    if problem is not None:
        report((*path, "orgno"), *problem)
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        report((*path, "name"), "a display name is required",
               "the customer's name, shown at login: name: Nordby kommune")
    elif len(name) > NAME_MAX:
        report((*path, "name"), f"longer than {NAME_MAX} characters", "shorten it")
    for key in ("url", "logo_uri"):
        value = entry.get(key)
        if value is not None and not _https(value):
            report((*path, key), f"{key} must be an https:// address with a host",
                   "write the full address, e.g. https://nordby.kommune.no/")


def check_client_type(integration_type: object, report: Report) -> None:
    if integration_type not in ONBEHALFOF_TYPES:
        report(("onbehalfof",), f"onbehalfof is for ID-porten login clients "
               f"({', '.join(sorted(ONBEHALFOF_TYPES))}), not {integration_type}",
               "remove `onbehalfof:`, or declare it on the supplier's login client")
