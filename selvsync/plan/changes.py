"""Plan and its changes: what would change, in a stable order; live-state fingerprints.

Building a plan is pure: desired state and a snapshot of live state in, a Plan out. Reading
live state is selvsync.live's job; carrying a plan out is selvsync.apply's; the JSON form
is selvsync.plan.document's. A plan never holds a secret: request bodies are built from
declared fields, and Digdir's secrets go straight from the apply to the secret sink.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from selvsync.plan import diff
from selvsync.plan.actions import ACTIONS, Action, render_order
from selvsync.rules.fields import WRITABLE_FIELDS

JWKS_SUFFIX = "/jwks"  # fingerprint entries for key sets: "<client_id>/jwks"


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
    # grant/revoke (selvsync.plan.scopes): ``key`` is the scope, this is the organisation.
    consumer: str | None = None
    consumer_name: str | None = None
    renamed_from: str | None = None  # rename: the key the live client's marker carried
    # deactivate: the key of the client that succeeds this one (a replacement under a new
    # key); apply deactivates only once that client exists completely.
    successor: str | None = None
    # Kids registered on ``keys_from`` (the old client of a replace) that this change
    # registers on its client: apply frees them on the old client first.
    keys_moved: list[str] = field(default_factory=list)
    keys_from: str | None = None
    # onbehalfof-create/update/delete (selvsync.plan.onbehalfof): ``key`` is the client's,
    # this is the entry's id; ``body`` is the entry as sent (the API's own spelling).
    entry: str | None = None

    @property
    def destructive(self) -> bool:
        return ACTIONS[self.action].destructive


@dataclass(frozen=True)
class PlanOptions:
    """Inputs of a plan besides desired and live state."""

    now: float = 0.0  # Unix seconds; 0 means "the current time" (resolved by the caller)
    renew_keys: bool = False
    # Read every declared key set, also where the marker vouches for it (`plan --refresh`,
    # the drift check): finds keys changed in the portal. See selvsync.plan.keys.vouched.
    refresh: bool = False
    # Record live fingerprints: needed only when the plan is written to a file (plan --out)
    # or checked against one; a plan that is only shown skips the digests.
    fingerprints: bool = True


@dataclass
class LiveSnapshot:
    """What selvsync.live read for one environment."""

    clients: list[dict[str, Any]]
    jwks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    merchant: dict[str, dict[str, Any]] | None = None  # None: the environment has no API
    # onbehalfof entries read with GET /clients/{id}/onbehalfof, by client_id: only for
    # clients whose listing object did not carry them (selvsync.live.onbehalfof).
    onbehalfof: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Clients whose key set was not read because their marker shows it is exactly the declared
    # set, none expiring soon (selvsync.plan.keys.vouched); a read set in ``jwks`` wins.
    vouched: frozenset[str] = frozenset()

    def keys_of(
        self, client_id: str, declared: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        """The live key set of ``client_id``: as read, or ``declared`` where the marker vouches
        for it (same key material, no expiry known to be near), or None (not read)."""
        if client_id in self.jwks:
            return self.jwks[client_id]
        return list(declared) if client_id in self.vouched else None

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
    refusals: list[str] = field(default_factory=list)  # safety limits (see plan.safety)
    blockers: list[str] = field(default_factory=list)  # need a YAML change; nothing overrides
    # Scopes and their access lists as the plan read them (selvsync.plan.scopes).
    scope_fingerprints: dict[str, str] = field(default_factory=dict)
    # Active live clients selvsync never writes: unmarked and foreign ones, each as
    # {"client_id", "client_name", "ownership"} (plus "owner" for another selvsync owner).
    others: list[dict[str, str]] = field(default_factory=list)
    # Refusals an override flag lifted for this run, each naming its flag: shown, never hidden.
    overridden: list[str] = field(default_factory=list)
    # Upkeep that needs an apply although no field differs (keys expiring, key removals
    # waiting for propagation): counts as drift for `plan --detailed-exitcode`.
    maintenance: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        out = {str(a): 0 for a in render_order()}
        for change in self.changes:
            out[str(change.action)] += 1
        return out

    def ordered(self) -> list[Change]:
        return sorted(self.changes, key=lambda c: (ACTIONS[c.action].render_rank, c.key))


@dataclass
class Plan:
    orgno: str
    owner: str
    environments: list[EnvironmentPlan]
    renew_keys: bool = False  # planned with --renew-keys (a plan file re-checks with it too)

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

    @property
    def drift(self) -> bool:
        """Whether `plan --detailed-exitcode` exits 2: changes (manual steps and secret
        rotations included) or maintenance items (expiring keys, pending key removals)."""
        return bool(self.changes) or any(env.maintenance for env in self.environments)

    def refusals(self, *, force: bool = False) -> list[str]:
        """Why apply must refuse this plan (exit 4). ``force`` lifts the safety limits only."""
        out = [f"{env.name}: {r}" for env in self.environments for r in env.blockers]
        if not force:
            out += [f"{env.name}: {r}" for env in self.environments for r in env.refusals]
        return out

    def summary(self) -> dict[str, int]:
        total = {str(a): 0 for a in render_order()}
        for env in self.environments:
            for action, count in env.summary().items():
                total[action] += count
        return total


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(client: Mapping[str, Any]) -> str:
    """A digest of a live client that ignores list order but catches any write to it."""
    core: dict[str, Any] = dict.fromkeys(WRITABLE_FIELDS)
    for k, v in client.items():
        if v is not None and k not in _NOT_FINGERPRINTED:
            # Every field a PUT carries back, unknown ones included (selvsync.plan.lossless).
            core[k] = diff.canonical(k, v)
    core["client_id"] = client.get("client_id")
    core["active"] = client.get("active", True)
    core["last_updated"] = client.get("last_updated")
    return _digest(core)


_NOT_FINGERPRINTED = frozenset(
    {"client_id", "active", "last_updated", "created", "client_secret", "onbehalfof", "jwks_uri"}
)


def jwks_fingerprint(keys: Iterable[Mapping[str, Any]]) -> str:
    return _digest(sorted((str(k.get("kid")), str(k.get("n")), str(k.get("exp"))) for k in keys))
