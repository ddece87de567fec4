"""``selvsync import --scopes``: the organisation's live scopes and who may use them, as YAML.

A provider adopts what it has in one reviewed step: every active scope it owns that the
environment does not declare yet is written with its fields (server defaults left out) and its
APPROVED consumers; the next plan shows no changes. Pending (REQUESTED) and DENIED entries are
not written: declaring them would grant them. Scopes need no marker, so nothing is written to
Digdir by adopting them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selvsync.api.client import DigdirClient
from selvsync.api.scopes import ScopesApi
from selvsync.model import DesiredState
from selvsync.rules.scopes import DEFAULTS, compared, owns
from selvsync.yaml import dump


@dataclass
class ScopeImport:
    environment: str
    scopes: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # consumer orgno -> name, if known
    skipped: list[str] = field(default_factory=list)  # already declared
    not_owned: list[str] = field(default_factory=list)  # outside the owned prefixes
    pending: list[str] = field(default_factory=list)  # REQUESTED / DENIED, not imported
    prefixes: list[str] = field(default_factory=list)  # of the imported scopes


def import_scopes(client: DigdirClient, state: DesiredState) -> ScopeImport:
    """Read the live scopes and access lists (2 + one per imported scope requests)."""
    api = ScopesApi(client)
    owned = state.environment.scopes.owned
    result = ScopeImport(state.environment.name)
    chosen = []
    for scope in sorted(api.list_scopes(inactive=False), key=lambda s: str(s.get("name"))):
        name = str(scope.get("name") or f"{scope.get('prefix')}:{scope.get('subscope')}")
        if name in state.scopes:
            result.skipped.append(name)
        elif owned and not owns(owned, name):
            result.not_owned.append(name)
        else:
            chosen.append((name, scope))
    for name, scope in chosen:
        fields = {k: v for k, v in compared(scope).items() if DEFAULTS.get(k) != v}
        consumers = []
        for entry in api.list_access(name):
            orgno = str(entry.get("consumer_orgno"))
            who = entry.get("consumer_organization_name")
            if who:
                result.names[orgno] = str(who)
            if str(entry.get("state", "APPROVED")).upper() == "APPROVED":
                consumers.append(orgno)
            else:
                label = f"{who} ({orgno})" if who else orgno
                result.pending.append(f"{name}: {label} is {entry.get('state')}")
        if consumers:
            fields["consumers"] = sorted(consumers)
        result.scopes[name] = fields
        prefix = name.partition(":")[0]
        if prefix not in result.prefixes:
            result.prefixes.append(prefix)
    return result


def render_scopes_yaml(result: ScopeImport, command: str = "") -> str:
    head = [f"# Imported by `{command}`." if command else "# Imported by selvsync.",
            "# Review, then add under `scopes:` in the environment's file."]
    for orgno, name in sorted(result.names.items()):
        head.append(f"#   {orgno}: {name}")
    body = dump({"scopes": result.scopes}) if result.scopes else "scopes: {}\n"
    return "\n".join(head) + "\n" + body
