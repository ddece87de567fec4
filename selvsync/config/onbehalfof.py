"""A login client's `onbehalfof:` entries: written inline, or generated from `organisations:`.

```yaml
onbehalfof:                     # a list of entries, or this mapping:
  from_organisations: true      # one entry per organisation of selvsync.yaml
  entries:
    - {id: nordby, orgno: "910000004", name: Nordby kommune, url: https://nordby.kommune.no/}
```

``from_organisations`` makes one entry per organisation (its name is the id, its orgno the
orgno) except retired ones and the client's own organisation. The display name, URL, logo and
description come from each organisation's `variables:` (``display_name`` (default: the
organisation's name), ``url``, ``logo_uri``, ``description``); ``from_organisations: {url:
portal_url}`` names other variables. An inline entry with a generated entry's id replaces it.
Generated entries never depend on `--org`: narrowing a run must not delete anyone's entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from selvsync.errors import Diagnostic, Position
from selvsync.model import OnBehalfOf, Organisation
from selvsync.rules import format_field
from selvsync.rules import onbehalfof as oborules
from selvsync.yaml import PathKey

Locate = Callable[[PathKey], Position | None]

DEFAULT_VARIABLES: Final = {
    "name": "display_name",
    "url": "url",
    "logo_uri": "logo_uri",
    "description": "description",
}


def parse_onbehalfof(
    declared: Any,
    integration_type: Any,
    *,
    orgno: str,
    organisations: Sequence[Organisation] | None,
    locate: Locate,
    field: str,
    errors: list[Diagnostic],
) -> dict[str, OnBehalfOf] | None:
    """The client's entries by id (None when it declares no `onbehalfof:`); problems, each
    at its file:line, go to ``errors``."""
    if declared is None:
        return None

    def report(path: PathKey, message: str, hint: str) -> None:
        errors.append(Diagnostic(locate(path), format_field(field, path), message, hint))

    before = len(errors)
    oborules.check_client_type(integration_type, report)
    if isinstance(declared, list):
        inline, generate = declared, None
        base: PathKey = ("onbehalfof",)
    else:
        inline, generate = declared.get("entries") or [], declared.get("from_organisations")
        base = ("onbehalfof", "entries")
    out: dict[str, OnBehalfOf] = {}
    if generate:
        out.update(_generated(generate, orgno, organisations, report))
    seen: dict[str, int] = {}
    for i, raw in enumerate(inline):
        path = (*base, i)
        oborules.check_entry(raw, path, report)
        ident = raw.get("id")
        if not isinstance(ident, str):
            continue
        if ident in seen:
            report((*path, "id"), f"onbehalfof id '{ident}' is already entry {seen[ident]}",
                   "each id once per client")
        seen[ident] = i
        out[ident] = _entry(raw)
    return out if len(errors) == before else {}


def _entry(raw: dict[str, Any]) -> OnBehalfOf:
    def opt(key: str) -> str | None:
        value = raw.get(key)
        return None if value is None else str(value)

    return OnBehalfOf(
        id=str(raw["id"]),
        orgno=str(raw.get("orgno")),
        name=str(raw.get("name")),
        url=opt("url"),
        logo_uri=opt("logo_uri"),
        description=opt("description"),
    )


def _generated(
    generate: Any,
    orgno: str,
    organisations: Sequence[Organisation] | None,
    report: Callable[[PathKey, str, str], None],
) -> dict[str, OnBehalfOf]:
    path: PathKey = ("onbehalfof", "from_organisations")
    if organisations is None:
        report(path, "from_organisations needs `organisations:` in selvsync.yaml",
               "list the entries under `entries:` instead, or declare the organisations")
        return {}
    names = dict(DEFAULT_VARIABLES)
    if isinstance(generate, dict):
        names.update({k: str(v) for k, v in generate.items()})
    out: dict[str, OnBehalfOf] = {}
    for org in organisations:
        if org.retired or org.orgno == orgno:
            continue
        raw: dict[str, Any] = {"id": org.name, "orgno": org.orgno}
        for key, variable in names.items():
            if variable in org.variables:
                raw[key] = org.variables[variable]
        raw.setdefault("name", org.name)

        if _valid_generated(raw, org.name, path, report):
            out[org.name] = _entry(raw)
    return out


def _valid_generated(
    raw: dict[str, Any], org_name: str, path: PathKey,
    report: Callable[[PathKey, str, str], None],
) -> bool:
    """Check a generated entry; its problems point at `from_organisations` and name the
    organisation whose variables are wrong."""
    found: list[str] = []

    def said(_: PathKey, message: str, hint: str) -> None:
        found.append(message)
        report(path, f"organisation '{org_name}': {message}",
               f"{hint} (in its `variables:` in selvsync.yaml)")

    oborules.check_entry(raw, (), said)
    return not found
