"""Plan and its changes: what would change, in a stable order, with a JSON-ready form.

Building a plan is pure: desired state and a snapshot of live state in, a Plan out. Reading
live state is the engine's job (selvsync.engine); carrying a plan out is selvsync.apply's.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from selvsync import diff, keyplan, merchantplan
from selvsync.marker import Marker, Ownership, classify_owner, compose, parse
from selvsync.model import DesiredClient, DesiredState

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
    core = {k: diff._canonical(k, client.get(k)) for k in diff.WRITABLE_FIELDS}
    core["client_id"] = client.get("client_id")
    core["active"] = client.get("active", True)
    core["last_updated"] = client.get("last_updated")
    return _digest(core)


def jwks_fingerprint(keys: Iterable[Mapping[str, Any]]) -> str:
    return _digest(sorted((str(k.get("kid")), str(k.get("n")), str(k.get("exp"))) for k in keys))


def desired_body(client: DesiredClient, marker: Marker) -> dict[str, Any]:
    body = diff.writable(client.fields)
    body["description"] = compose(client.fields.get("description"), marker)
    return body


def _marker_for(client: DesiredClient, owner: str, existing: Marker | None) -> Marker:
    keep = existing if existing is not None else Marker(owner, client.key)
    return keep.with_(owner=owner, key=client.key, protected=client.protect)


def _key_material(jwk: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    return (
        str(jwk.get("kid")),
        str(jwk.get("n")),
        str(jwk.get("e")),
        str(jwk.get("alg")),
        str(jwk.get("use")),
    )


def _keys_change(
    plan: EnvironmentPlan,
    state: DesiredState,
    client: DesiredClient,
    client_id: str | None,
    live: list[dict[str, Any]] | None,
    options: PlanOptions,
) -> None:
    if not client.key_files:
        return
    env = state.environment
    decision = keyplan.decide(
        client.keys,
        live or [],
        now=options.now,
        propagation_seconds=env.key_propagation_minutes * 60,
        expiry_warning_days=env.key_expiry_warning_days,
        renew=options.renew_keys,
    )
    plan.warnings.extend(f"{client.key}: {w}" for w in decision.warnings)
    if decision.upload is None:
        plan.notes.extend(f"{client.key}: {n}" for n in decision.notes)
        return
    plan.changes.append(
        Change(
            plan.name,
            client.key,
            Action.UPDATE_KEYS,
            client_id,
            jwks=decision.upload,
            keys_added=decision.added,
            keys_removed=decision.removed,
            notes=decision.notes,
        )
    )


def _secret_change(
    plan: EnvironmentPlan,
    state: DesiredState,
    client: DesiredClient,
    live_client: dict[str, Any],
    body: dict[str, Any],
    options: PlanOptions,
) -> None:
    """Propose rotate-secret when the secret is older than the allowed age."""
    if live_client.get("token_endpoint_auth_method") not in diff.SECRET_METHODS:
        return
    if body.get("token_endpoint_auth_method") not in diff.SECRET_METHODS:
        return
    max_age = client.secret_max_age_days or state.environment.secret_max_age_days
    _, marker = parse(live_client.get("description"))
    issued = (marker.rotated if marker else None) or str(live_client.get("created") or "")[:10]
    try:
        issued_at = datetime.strptime(issued, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return  # no known issue date: nothing to judge by
    age = (datetime.fromtimestamp(options.now, UTC) - issued_at).days
    if age < max_age:
        return
    plan.changes.append(
        Change(
            plan.name,
            client.key,
            Action.ROTATE_SECRET,
            str(live_client["client_id"]),
            body=body,
            returns_secret=True,
            notes=[
                f"the secret was issued {issued} ({age} days ago; limit {max_age}); the new one "
                "goes to the secret sink and the old one keeps working about 30 minutes"
            ],
        )
    )


def build_environment_plan(
    state: DesiredState, owner: str, live: LiveSnapshot, options: PlanOptions | None = None
) -> EnvironmentPlan:
    """Compare one environment's desired state with its live snapshot."""
    options = options or PlanOptions(now=time.time())
    env = state.environment.name
    plan = EnvironmentPlan(env)
    counts = {str(o): 0 for o in Ownership} | {"inactive": 0}
    ours: dict[str, dict[str, Any]] = {}
    inactive_ours: dict[str, dict[str, Any]] = {}
    by_id: dict[str, dict[str, Any]] = {}
    duplicates: list[str] = []
    for client in live.clients:
        cid = str(client.get("client_id"))
        by_id[cid] = client
        marker, foreign = classify_owner(client.get("description"), owner)
        if client.get("active") is False:
            counts["inactive"] += 1
            if marker is not None:
                inactive_ours[marker.key] = client
            continue
        if marker is not None:
            if marker.key in ours:
                duplicates.append(marker.key)
            ours[marker.key] = client
            counts[
                str(Ownership.MANAGED if marker.key in state.clients else Ownership.ORPHANED)
            ] += 1
        else:
            counts[str(Ownership.FOREIGN if foreign else Ownership.UNMARKED)] += 1
    plan.counts = counts
    for key in sorted(set(duplicates)):
        plan.blockers.append(
            f"more than one active client carries the marker for '{key}'; "
            "deactivate the extra one in the portal first"
        )

    for key, wanted in sorted(state.clients.items()):
        live_client = ours.get(key)
        if live_client is None and wanted.client_id:
            live_client = _adoptable(plan, wanted, by_id, owner)
            if live_client is None:
                continue
            _plan_adopt(plan, state, wanted, live_client, owner, live, options)
        elif live_client is None:
            _plan_create(plan, wanted, owner, inactive_ours.get(key))
        else:
            _plan_existing(plan, state, wanted, live_client, owner, live, options)
        _merchant_change(plan, state, wanted, live_client, live)

    for key, client in sorted(ours.items()):
        if key in state.clients:
            continue
        cid = str(client["client_id"])
        _, marker = parse(client.get("description"))
        change = Change(
            env,
            key,
            Action.DEACTIVATE,
            cid,
            protected=bool(marker and marker.protected),
            notes=["no longer declared; deactivation at Digdir is irreversible"],
        )
        plan.changes.append(change)
        plan.fingerprints.update(live.fingerprints(client))
    if not live.clients and state.clients:
        plan.warnings.append(
            "Digdir returned no clients at all for this organisation; every declared client "
            "will be created. If clients exist in the portal, stop: the listing may be incomplete."
        )
    _check_safety(plan, state)
    return plan


def _adoptable(
    plan: EnvironmentPlan, client: DesiredClient, by_id: dict[str, dict[str, Any]], owner: str
) -> dict[str, Any] | None:
    target = by_id.get(str(client.client_id))
    if target is None or target.get("active") is False:
        state = "deactivated" if target is not None else "not found"
        plan.blockers.append(
            f"client '{client.key}': client_id {client.client_id} to adopt is "
            f"{state}; remove `client_id:` to create a new client instead"
        )
        return None
    marker, foreign = classify_owner(target.get("description"), owner)
    if foreign or marker is not None:
        plan.blockers.append(
            f"client '{client.key}': client_id {client.client_id} is managed "
            "by someone else (its description carries another marker)"
        )
        return None
    return target


def _plan_create(
    plan: EnvironmentPlan, client: DesiredClient, owner: str, deactivated: dict[str, Any] | None
) -> None:
    body = desired_body(client, _marker_for(client, owner, None))
    change = Change(
        plan.name,
        client.key,
        Action.CREATE,
        None,
        body=body,
        fields=[diff.FieldChange(k, None, diff._canonical(k, v)) for k, v in body.items()],
        returns_secret=body.get("token_endpoint_auth_method") in diff.SECRET_METHODS,
        protected=client.protect,
    )
    if client.keys:
        change.jwks = list(client.keys)
        change.keys_added = sorted(k["kid"] for k in client.keys)
    if deactivated is not None:
        change.notes.append(
            f"a deactivated client with this key exists "
            f"({deactivated.get('client_id')}); Digdir cannot reactivate it, so a "
            "new client is created"
        )
    if change.returns_secret:
        change.notes.append("Digdir returns a client secret once; it goes to the secret sink")
    plan.changes.append(change)
    plan.absent.append(client.key)


def _plan_adopt(
    plan: EnvironmentPlan,
    state: DesiredState,
    client: DesiredClient,
    live_client: dict[str, Any],
    owner: str,
    live: LiveSnapshot,
    options: PlanOptions,
) -> None:
    cid = str(live_client["client_id"])
    body = desired_body(client, _marker_for(client, owner, None))
    fields = diff.compare(body, live_client)
    change = Change(
        plan.name,
        client.key,
        Action.ADOPT,
        cid,
        fields=fields,
        body=body,
        protected=client.protect,
        notes=["takes over an existing client: writes selvsync's marker into its description"],
    )
    if any(f.field in diff.IMMUTABLE_FIELDS for f in fields):
        plan.blockers.append(
            f"client '{client.key}': cannot adopt {cid}: integration_type differs and cannot change"
        )
    plan.changes.append(change)
    plan.fingerprints.update(live.fingerprints(live_client))
    _keys_change(plan, state, client, cid, live.jwks.get(cid), options)


def _plan_existing(
    plan: EnvironmentPlan,
    state: DesiredState,
    client: DesiredClient,
    live_client: dict[str, Any],
    owner: str,
    live: LiveSnapshot,
    options: PlanOptions,
) -> None:
    cid = str(live_client["client_id"])
    _, existing = parse(live_client.get("description"))
    body = desired_body(client, _marker_for(client, owner, existing))
    fields = diff.compare(body, live_client)
    plan.fingerprints.update(live.fingerprints(live_client))
    if any(f.field in diff.IMMUTABLE_FIELDS for f in fields):
        change = Change(
            plan.name,
            client.key,
            Action.REPLACE,
            cid,
            fields=fields,
            body=desired_body(client, _marker_for(client, owner, None)),
            protected=client.protect,
            returns_secret=body.get("token_endpoint_auth_method") in diff.SECRET_METHODS,
            notes=[
                "integration_type cannot change at Digdir: a new client is "
                "created and the old one deactivated; the client_id and all "
                "credentials change"
            ],
        )
        if client.keys:
            change.jwks = list(client.keys)
            change.keys_added = sorted(k["kid"] for k in client.keys)
        if not client.allow_replace:
            plan.blockers.append(
                f"client '{client.key}' needs replacing; set "
                "`allow_replace: true` on it to allow that"
            )
        plan.changes.append(change)
        return
    if fields:
        change = Change(
            plan.name,
            client.key,
            Action.UPDATE,
            cid,
            fields=fields,
            body=body,
            protected=client.protect,
        )
        before = live_client.get("token_endpoint_auth_method")
        after = body.get("token_endpoint_auth_method")
        if before in diff.SECRET_METHODS and after not in diff.SECRET_METHODS and after:
            change.notes.append(
                "changing token_endpoint_auth_method away from a client secret "
                "makes Digdir delete the secret"
            )
        plan.changes.append(change)
    _keys_change(plan, state, client, cid, live.jwks.get(cid), options)
    _secret_change(plan, state, client, live_client, body, options)


def _merchant_change(
    plan: EnvironmentPlan,
    state: DesiredState,
    client: DesiredClient,
    live_client: dict[str, Any] | None,
    live: LiveSnapshot,
) -> None:
    merchant = client.merchant
    if merchant is None or merchant.empty:
        return
    replaced = any(c.key == client.key and c.action == Action.REPLACE for c in plan.changes)
    if replaced:
        live_client = None  # the data goes to the new client, which has none yet
    cid = str(live_client["client_id"]) if live_client is not None else None
    if state.environment.merchant_api:
        current = (live.merchant or {}).get(cid) if cid else None
        fields = merchantplan.compare(merchant, current)
        if fields:
            plan.changes.append(
                Change(
                    plan.name,
                    client.key,
                    Action.MERCHANT,
                    cid,
                    fields=fields,
                    merchant=merchant.as_dict(),
                )
            )
        return
    _, marker = parse(live_client.get("description")) if live_client is not None else ("", None)
    if marker is not None and marker.merchant_digest == merchantplan.digest(merchant):
        return  # a person confirmed exactly this data in the portal
    name = str(client.fields.get("client_name") or client.key)
    plan.changes.append(
        Change(
            plan.name,
            client.key,
            Action.MERCHANT,
            cid,
            fields=merchantplan.compare(merchant, None),
            manual=True,
            notes=merchantplan.portal_steps(plan.name, client.key, cid, name, merchant),
        )
    )


def _check_safety(plan: EnvironmentPlan, state: DesiredState) -> None:
    limits = state.environment.safety
    managed = plan.counts.get("managed", 0) + plan.counts.get("orphaned", 0)
    destroy = [c for c in plan.changes if c.destructive]
    for change in destroy:
        if change.protected:
            plan.refusals.append(
                f"client '{change.key}' is protected and would be "
                f"{'deactivated' if change.action == Action.DEACTIVATE else 'replaced'}"
            )
    if managed >= limits.min_managed_for_percent and managed:
        share = 100 * len(destroy) / managed
        if share > limits.max_destroy_percent:
            plan.refusals.append(
                f"{len(destroy)} of {managed} managed clients would be deactivated or replaced "
                f"({share:.0f} %, limit {limits.max_destroy_percent} %)"
            )
