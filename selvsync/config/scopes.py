"""Scopes an organisation provides as a Maskinporten API provider, and who may use them.

Where they are written (see docs/scopes.md):

    selvsync.yaml     environments.<env>.scopes: {prefixes: [...], max_revocations, consumer_check}
                      consumer_groups: {NAME: [orgno, ...] | {orgno: name} | {file: PATH}}
    shared.yaml       scopes: {NAME: {...}} (shared definitions), consumer_groups: as above
    environments/*    scopes: {prefix:subscope: {description, ..., consumers, consumer_groups}}

A scope in an environment file may say `extends: NAME` to start from a shared definition, as
clients do; `${var}` is substituted afterwards. Every consumer orgno is checked offline (nine
digits, MOD11) and reported at its own file:line.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from selvsync.config.resolve import Substituter, merge_with_origins
from selvsync.errors import ConfigError, Diagnostic, Position
from selvsync.model import DesiredScope, DesiredState, ScopeSettings
from selvsync.rules.scopes import SELVSYNC_SCOPE_SETTINGS, check_consumer, check_scope
from selvsync.yaml import Document, PathKey, dotted, load_file
from selvsync.yaml.positions import Origins, locator

CONSUMER_CHECKS = ("warn", "refuse", "off")


class Group:
    """A named group of consumers: orgno -> (organisation name or None)."""

    def __init__(self, name: str, members: dict[str, str | None]) -> None:
        self.name = name
        self.members = members


def scope_settings(
    raw: Any, here: PathKey, doc: Document, errors: list[Diagnostic]
) -> ScopeSettings:
    """An environment's `scopes:` mapping in selvsync.yaml (schema-valid) as settings."""
    if not isinstance(raw, dict):
        return ScopeSettings()
    owned = tuple(str(p) for p in raw.get("prefixes") or ())
    for i, entry in enumerate(owned):
        if not entry or entry.startswith(":") or entry.endswith(":"):
            errors.append(
                Diagnostic(
                    doc.locate((*here, "prefixes", i)),
                    dotted((*here, "prefixes", i)),
                    f"'{entry}' is neither a prefix nor a prefix:subscope pattern",
                    "e.g. `skatt` or `skatt:demo/*`",
                )
            )
    check = str(raw.get("consumer_check", "warn"))
    return ScopeSettings(
        owned=owned,
        max_revocations=int(raw.get("max_revocations", ScopeSettings.max_revocations)),
        consumer_check=check if check in CONSUMER_CHECKS else "warn",
    )


def consumer_groups(
    docs: Iterable[Document | None], root: Path, errors: list[Diagnostic]
) -> dict[str, Group]:
    """`consumer_groups:` of selvsync.yaml and shared.yaml (a name defined in both is an error)."""
    groups: dict[str, Group] = {}
    where: dict[str, Position | None] = {}
    for doc in docs:
        if doc is None or not isinstance(doc.data, dict):
            continue
        for name, raw in (doc.data.get("consumer_groups") or {}).items():
            here: PathKey = ("consumer_groups", name)
            if name in groups:
                errors.append(
                    Diagnostic(
                        doc.locate_key(here),
                        dotted(here),
                        f"consumer group '{name}' is already defined at {where[name]}",
                        "keep one definition",
                    )
                )
                continue
            where[name] = doc.locate_key(here)
            groups[name] = Group(name, _members(raw, doc, here, root, errors))
    return groups


def _members(
    raw: Any, doc: Document, here: PathKey, root: Path, errors: list[Diagnostic]
) -> dict[str, str | None]:
    if isinstance(raw, dict) and set(raw) == {"file"}:
        return _members_from_file(str(raw["file"]), doc, here, root, errors)
    members: dict[str, str | None] = {}
    items: list[tuple[Any, str | None, PathKey]]
    if isinstance(raw, list):
        items = [(v, None, (*here, i)) for i, v in enumerate(raw)]
    elif isinstance(raw, dict):
        items = [(k, None if v is None else str(v), (*here, str(k))) for k, v in raw.items()]
    else:
        items = []
    for value, name, path in items:
        orgno = _orgno(value)
        found = check_consumer(orgno, doc.locate(path), dotted(path))
        errors.extend(found)
        if not found:
            members[orgno] = name
    return members


def _members_from_file(
    entry: str, doc: Document, here: PathKey, root: Path, errors: list[Diagnostic]
) -> dict[str, str | None]:
    """A group kept in its own YAML file: a list of orgnos, or a mapping orgno -> name."""
    path = (root / entry).resolve()
    at = doc.locate((*here, "file"))
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        reason = "is outside the project" if not path.is_relative_to(root.resolve()) \
            else "does not exist"
        errors.append(Diagnostic(at, dotted((*here, "file")), f"group file '{entry}' {reason}",
                                 "keep consumer lists in the project, e.g. consumers/NAME.yaml"))
        return {}
    try:
        group_doc = load_file(path, _display(path, root))
    except ConfigError as exc:
        errors.extend(exc.diagnostics)
        return {}
    data = group_doc.data
    if not isinstance(data, list | dict):
        errors.append(Diagnostic(group_doc.locate(()), "", "expected a list of orgnos or a "
                                 "mapping orgno: name"))
        return {}
    return _members(data, group_doc, (), root, errors)


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _orgno(value: Any) -> Any:
    # An unquoted YAML number loses nothing for nine digits: accept it as the string it is.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def shared_scopes(shared: Document | None, errors: list[Diagnostic]) -> dict[str, Document]:
    """Shared scope definitions by name (they cannot extend each other)."""
    if shared is None or not isinstance(shared.data, dict):
        return {}
    out: dict[str, Document] = {}
    for name, body in (shared.data.get("scopes") or {}).items():
        if isinstance(body, dict) and "extends" in body:
            errors.append(
                Diagnostic(
                    shared.locate_key(("scopes", name, "extends")),
                    dotted(("scopes", name, "extends")),
                    "shared definitions cannot extend each other",
                    "copy the fields into this definition",
                )
            )
        out[name] = shared
    return out


def load_environment_scopes(
    state: DesiredState,
    docs: Iterable[Document],
    shared: dict[str, Document],
    groups: Mapping[str, Group],
    subst: Substituter,
    errors: list[Diagnostic],
) -> None:
    """Fill ``state.scopes`` from the environment's files (`scopes:` in any of them)."""
    seen: dict[str, Position | None] = {}
    for doc in docs:
        if not isinstance(doc.data, dict):
            continue
        for name in doc.data.get("scopes") or {}:
            here: PathKey = ("scopes", name)
            if name in seen:
                errors.append(
                    Diagnostic(
                        doc.locate_key(here),
                        dotted(here),
                        f"scope declared twice (first at {seen[name]})",
                        "keep one definition per scope in each environment",
                    )
                )
                continue
            seen[name] = doc.locate_key(here)
            scope = _scope(state, str(name), doc, shared, groups, subst, errors)
            if scope is not None:
                state.scopes[scope.name] = scope


def _scope(
    state: DesiredState,
    name: str,
    doc: Document,
    shared: dict[str, Document],
    groups: Mapping[str, Group],
    subst: Substituter,
    errors: list[Diagnostic],
) -> DesiredScope | None:
    here: PathKey = ("scopes", name)
    field = dotted(here)
    body = doc.data["scopes"][name]
    origins: Origins = doc.origins(here)
    if not isinstance(body, dict):
        errors.append(Diagnostic(doc.locate(here), field, "expected a mapping of fields"))
        return None
    base_name = body.get("extends")
    if base_name is not None:
        base = shared.get(str(base_name))
        if base is None:
            guess = difflib.get_close_matches(str(base_name), list(shared), n=1)
            errors.append(
                Diagnostic(
                    doc.locate((*here, "extends")),
                    f"{field}.extends",
                    f"no shared scope definition named '{base_name}'",
                    f"did you mean '{guess[0]}'?" if guess
                    else "define it under `scopes:` in shared.yaml",
                )
            )
            return None
        base_here: PathKey = ("scopes", str(base_name))
        body, origins = merge_with_origins(
            base.data["scopes"][str(base_name)], base.origins(base_here), body, origins
        )
        body.pop("extends", None)
    before = len(errors)
    body = subst.apply(body, origins, field)
    locate = locator(origins)
    if len(errors) == before:
        errors.extend(check_scope(name, body, state.environment.scopes.owned, locate, field))
    scope = DesiredScope(
        name=name,
        fields={k: v for k, v in body.items() if k not in SELVSYNC_SCOPE_SETTINGS},
        protect=bool(body.get("protect", False)),
        origins=origins,
    )
    for i, value in enumerate(body.get("consumers") or ()):
        orgno = _orgno(value)
        found = check_consumer(orgno, locate(("consumers", i)), f"{field}.consumers[{i}]")
        errors.extend(found)
        if not found:
            scope.consumers.setdefault(orgno, None)
    for i, group_name in enumerate(body.get("consumer_groups") or ()):
        group = groups.get(str(group_name))
        if group is None:
            guess = difflib.get_close_matches(str(group_name), list(groups), n=1)
            errors.append(
                Diagnostic(
                    locate(("consumer_groups", i)),
                    f"{field}.consumer_groups[{i}]",
                    f"no consumer group named '{group_name}'",
                    f"did you mean '{guess[0]}'?" if guess
                    else "define it under `consumer_groups:` in selvsync.yaml or shared.yaml",
                )
            )
            continue
        for orgno, org_name in group.members.items():
            if scope.consumers.get(orgno) is None:
                scope.consumers[orgno] = org_name
    regrant: list[str] = []
    for i, value in enumerate(body.get("regrant_denied") or ()):
        orgno = _orgno(value)
        found = check_consumer(orgno, locate(("regrant_denied", i)),
                               f"{field}.regrant_denied[{i}]")
        errors.extend(found)
        if not found:
            regrant.append(orgno)
    scope.regrant_denied = tuple(regrant)
    return scope
