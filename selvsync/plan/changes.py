"""Plan and its changes: what would change, in a stable order, with a JSON-ready form.

Building a plan is pure: desired state and a snapshot of live state in, a Plan out. Reading
live state is selvsync.live's job; carrying a plan out is selvsync.apply's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from selvsync.plan import diff

FORMAT_VERSION = 1
JWKS_SUFFIX = "/jwks"  # fingerprint entries for key sets: "<client_id>/jwks"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DEACTIVATE = "deactivate"
    ADOPT = "adopt"
    ROTATE_SECRET = "rotate-secret"
    UPDATE_KEYS = "update-keys"
    MERCHANT = "merchant"


# Order of rendering: destructive first, so a reviewer cannot miss them.
RENDER_ORDER = (
    Action.DEACTIVATE,
    Action.REPLACE,
    Action.CREATE,
    Action.ADOPT,
    Action.UPDATE,
    Action.UPDATE_KEYS,
    Action.ROTATE_SECRET,
    Action.MERCHANT,
)
# Order of applying: creates (and their keys) first, deactivations last.
APPLY_PHASES: tuple[tuple[Action, ...], ...] = (
    (Action.CREATE,),
    (Action.ADOPT, Action.UPDATE),
    (Action.UPDATE_KEYS, Action.ROTATE_SECRET),
    (Action.REPLACE,),
    (Action.MERCHANT,),  # after creates and replacements, so it lands on the new client
    (Action.DEACTIVATE,),
)
DESTRUCTIVE = frozenset({Action.DEACTIVATE, Action.REPLACE})


@dataclass
class Change:
    environment: str
    key: str
    action: Action
    client_id: str | None = None
    fields: list[diff.FieldChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    body: dict[str, Any] | None = None  # full POST/PUT body (no secrets, ever)
    jwks: list[dict[str, Any]] | None = None  # public keys to register (full set)
    keys_added: list[str] = field(default_factory=list)
    keys_removed: list[str] = field(default_factory=list)
    returns_secret: bool = False
    protected: bool = False
    manual: bool = False  # a person must do it in the portal; selvsync never claims it did
    merchant: dict[str, Any] | None = None  # merchant data to write (where there is an API)

    @property
    def destructive(self) -> bool:
        return self.action in DESTRUCTIVE

    def as_dict(self, *, bodies: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "environment": self.environment,
            "key": self.key,
            "action": str(self.action),
            "client_id": self.client_id,
            "fields": [f.as_dict() for f in self.fields],
            "notes": list(self.notes),
        }
        if self.keys_added or self.keys_removed:
            out["keys_added"] = list(self.keys_added)
            out["keys_removed"] = list(self.keys_removed)
        if self.action == Action.MERCHANT:
            out["manual"] = self.manual
        if bodies:
            out["body"] = self.body
            out["jwks"] = self.jwks
            out["returns_secret"] = self.returns_secret
            out["protected"] = self.protected
            out["merchant"] = self.merchant
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            environment=str(data["environment"]),
            key=str(data["key"]),
            action=Action(data["action"]),
            client_id=data.get("client_id"),
            fields=[diff.FieldChange(f["field"], f["before"], f["after"]) for f in data["fields"]],
            notes=[str(n) for n in data.get("notes", [])],
            body=data.get("body"),
            jwks=data.get("jwks"),
            keys_added=list(data.get("keys_added", [])),
            keys_removed=list(data.get("keys_removed", [])),
            returns_secret=bool(data.get("returns_secret", False)),
            protected=bool(data.get("protected", False)),
            manual=bool(data.get("manual", False)),
            merchant=data.get("merchant"),
        )


@dataclass(frozen=True)
class PlanOptions:
    """Inputs of a plan besides desired and live state."""

    now: float = 0.0  # Unix seconds; 0 means "the current time" (resolved by the engine)
    renew_keys: bool = False


@dataclass
class LiveSnapshot:
    """What the engine read for one environment."""

    clients: list[dict[str, Any]]
    jwks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    merchant: dict[str, dict[str, Any]] | None = None  # None: the environment has no API

    def fingerprints(self, client: Mapping[str, Any]) -> dict[str, str]:
        """Digests of a live client and, when it was read, its key set."""
        cid = str(client.get("client_id"))
        out = {cid: fingerprint(client)}
        if cid in self.jwks:
            out[cid + JWKS_SUFFIX] = jwks_fingerprint(self.jwks[cid])
        return out


@dataclass
class EnvironmentPlan:
    name: str
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # live clients by ownership
    fingerprints: dict[str, str] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)  # keys planned for create
    notes: list[str] = field(default_factory=list)  # informational, not changes
    refusals: list[str] = field(default_factory=list)  # safety limits; --force overrides
    blockers: list[str] = field(default_factory=list)  # need a YAML change; nothing overrides

    def summary(self) -> dict[str, int]:
        out = {str(a): 0 for a in RENDER_ORDER}
        for change in self.changes:
            out[str(change.action)] += 1
        return out

    def ordered(self) -> list[Change]:
        rank = {a: i for i, a in enumerate(RENDER_ORDER)}
        return sorted(self.changes, key=lambda c: (rank[c.action], c.key))


@dataclass
class Plan:
    orgno: str
    owner: str
    environments: list[EnvironmentPlan]

    @property
    def changes(self) -> list[Change]:
        return [c for env in self.environments for c in env.ordered()]

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def automatic(self) -> list[Change]:
        """The changes selvsync itself can carry out (manual portal steps excluded)."""
        return [c for c in self.changes if not c.manual]

    def refusals(self, *, force: bool = False) -> list[str]:
        """Why apply must refuse this plan (exit 4). ``force`` lifts the safety limits only."""
        out = [f"{env.name}: {r}" for env in self.environments for r in env.blockers]
        if not force:
            out += [f"{env.name}: {r}" for env in self.environments for r in env.refusals]
        return out

    def summary(self) -> dict[str, int]:
        total = {str(a): 0 for a in RENDER_ORDER}
        for env in self.environments:
            for action, count in env.summary().items():
                total[action] += count
        return total

    def as_dict(self, *, plan_file: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "selvsync-plan"} if plan_file else {}
        out |= {
            "format_version": FORMAT_VERSION,
            "orgno": self.orgno,
            "owner": self.owner,
            "changes": [c.as_dict(bodies=plan_file) for c in self.changes],
            "summary": self.summary(),
            "environments": [
                {
                    "name": env.name,
                    "summary": env.summary(),
                    "live": dict(env.counts),
                    "warnings": list(env.warnings),
                    "notes": list(env.notes),
                    "refusals": list(env.refusals),
                    "blockers": list(env.blockers),
                    **(
                        {"fingerprints": env.fingerprints, "absent": env.absent}
                        if plan_file
                        else {}
                    ),
                }
                for env in self.environments
            ],
        }
        return out


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(client: Mapping[str, Any]) -> str:
    """A digest of a live client that ignores list order but catches any write to it."""
    core: dict[str, Any] = dict.fromkeys(diff.WRITABLE_FIELDS)
    for k, v in client.items():
        if v is not None and k in core:
            core[k] = diff.canonical(k, v)
    core["client_id"] = client.get("client_id")
    core["active"] = client.get("active", True)
    core["last_updated"] = client.get("last_updated")
    return _digest(core)


def jwks_fingerprint(keys: Iterable[Mapping[str, Any]]) -> str:
    return _digest(sorted((str(k.get("kid")), str(k.get("n")), str(k.get("exp"))) for k in keys))
