"""Building a plan: desired state and a live snapshot in, an EnvironmentPlan out. Pure.

The steps, numbered in ``_build_environment_plan``: sort the live clients by owner and marker
key; block marker keys found on two active clients; match each declared client to its live
counterpart by marker (or adopt it by ``client_id``), compare field by field and turn the
differences into changes (plus keys, secret age and merchant data); deactivate live clients
that carry our marker but are no longer declared; then check an empty listing and the safety
limits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from selvsync.gcpause import paused_gc
from selvsync.marker import Marker, Ownership, classify_owner, compose, parse
from selvsync.model import DesiredClient, DesiredState
from selvsync.plan import diff, safety
from selvsync.plan import keys as keyplan
from selvsync.plan import merchant as merchantplan
from selvsync.plan import secrets as secretplan
from selvsync.plan.actions import Action
from selvsync.plan.changes import (
    Change,
    EnvironmentPlan,
    LiveSnapshot,
    PlanOptions,
)
from selvsync.rules.fields import IMMUTABLE_FIELDS, SECRET_METHODS


def desired_body(client: DesiredClient, marker: Marker) -> dict[str, Any]:
    body = diff.writable(client.fields)
    body["description"] = compose(client.fields.get("description"), marker)
    return body


def _marker_for(client: DesiredClient, owner: str, existing: Marker | None) -> Marker:
    keep = existing if existing is not None else Marker(owner, client.key)
    return keep.with_(owner=owner, key=client.key, protected=client.protect)


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
    # Expiring keys and removals waiting for propagation need a later apply (or a new key)
    # even when no field differs: maintenance, which `plan --detailed-exitcode` counts as drift.
    plan.maintenance.extend(f"{client.key}: {w}" for w in decision.warnings)
    if decision.upload is None:
        for note in decision.notes:
            waiting = note.startswith("removal of ")  # plan.keys: old keys wait to propagate
            (plan.maintenance if waiting else plan.notes).append(f"{client.key}: {note}")
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
    """Propose rotate-secret: a lost secret, a switch to a secret method, or an old secret."""
    max_age = client.secret_max_age_days or state.environment.secret_max_age_days
    reason = secretplan.rotation_reason(live_client, body, max_age, options.now)
    if reason is None:
        return
    plan.changes.append(
        Change(
            plan.name,
            client.key,
            Action.ROTATE_SECRET,
            str(live_client["client_id"]),
            body=body,
            returns_secret=True,
            notes=[reason],
        )
    )


def build_environment_plan(
    state: DesiredState, owner: str, live: LiveSnapshot, options: PlanOptions | None = None
) -> EnvironmentPlan:
    """Compare one environment's desired state with its live snapshot."""
    with paused_gc():  # thousands of small dicts and no cycles: see selvsync.gcpause
        return _build_environment_plan(state, owner, live, options)


@dataclass
class _LiveIndex:
    """The live clients sorted for planning."""

    ours: dict[str, dict[str, Any]] = field(default_factory=dict)  # active, by marker key
    inactive_ours: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)  # all, by client_id
    duplicates: list[str] = field(default_factory=list)  # marker keys on two active clients
    counts: dict[str, int] = field(default_factory=dict)  # by ownership, plus "inactive"


def _build_environment_plan(
    state: DesiredState, owner: str, live: LiveSnapshot, options: PlanOptions | None
) -> EnvironmentPlan:
    options = options or PlanOptions(now=time.time())
    plan = EnvironmentPlan(state.environment.name)
    # 1. Sort the live clients by owner and marker key, and count them.
    index = _index_live(live, state, owner)
    plan.counts = index.counts
    # 2. Two active clients with one marker: a person must resolve that first.
    _block_duplicates(plan, index)
    # 3. Every declared client: adopt, create, or compare with its live counterpart.
    for _, wanted in sorted(state.clients.items()):
        _plan_declared(plan, state, wanted, index, owner, live, options)
    # 4. Ours but no longer declared: deactivate.
    _plan_deactivations(plan, state, index, live)
    # 5. An empty listing may be a broken one: refuse (or warn) before creating everything.
    _check_empty_listing(plan, state, live)
    # 6. Safety limits on destructive changes.
    _check_safety(plan, state)
    return plan


def _index_live(live: LiveSnapshot, state: DesiredState, owner: str) -> _LiveIndex:
    index = _LiveIndex(counts={str(o): 0 for o in Ownership} | {"inactive": 0})
    for client in live.clients:
        cid = str(client.get("client_id"))
        index.by_id[cid] = client
        marker, foreign = classify_owner(client.get("description"), owner)
        if client.get("active") is False:
            index.counts["inactive"] += 1
            if marker is not None:
                index.inactive_ours[marker.key] = client
            continue
        if marker is not None:
            if marker.key in index.ours:
                index.duplicates.append(marker.key)
            index.ours[marker.key] = client
            managed = marker.key in state.clients
            index.counts[str(Ownership.MANAGED if managed else Ownership.ORPHANED)] += 1
        else:
            index.counts[str(Ownership.FOREIGN if foreign else Ownership.UNMARKED)] += 1
    return index


def _block_duplicates(plan: EnvironmentPlan, index: _LiveIndex) -> None:
    for key in sorted(set(index.duplicates)):
        plan.blockers.append(
            f"more than one active client carries the marker for '{key}'; "
            "deactivate the extra one in the portal first"
        )


def _plan_declared(
    plan: EnvironmentPlan,
    state: DesiredState,
    wanted: DesiredClient,
    index: _LiveIndex,
    owner: str,
    live: LiveSnapshot,
    options: PlanOptions,
) -> None:
    live_client = index.ours.get(wanted.key)
    if live_client is None and wanted.client_id:
        live_client = _adoptable(plan, wanted, index.by_id, owner)
        if live_client is None:
            return
        _plan_adopt(plan, state, wanted, live_client, owner, live, options)
    elif live_client is None:
        _plan_create(plan, wanted, owner, index.inactive_ours.get(wanted.key))
    else:
        _plan_existing(plan, state, wanted, live_client, owner, live, options)
    _merchant_change(plan, state, wanted, live_client, live)


def _plan_deactivations(
    plan: EnvironmentPlan, state: DesiredState, index: _LiveIndex, live: LiveSnapshot
) -> None:
    for key, client in sorted(index.ours.items()):
        if key in state.clients:
            continue
        _, marker = parse(client.get("description"))
        plan.changes.append(
            Change(
                plan.name,
                key,
                Action.DEACTIVATE,
                str(client["client_id"]),
                protected=bool(marker and marker.protected),
                notes=["no longer declared; deactivation at Digdir is irreversible"],
            )
        )
        plan.fingerprints.update(live.fingerprints(client))


def _check_empty_listing(plan: EnvironmentPlan, state: DesiredState, live: LiveSnapshot) -> None:
    safety.check_empty_listing(plan, state, live)


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
        fields=[diff.FieldChange(k, None, diff.canonical(k, v)) for k, v in body.items()],
        returns_secret=body.get("token_endpoint_auth_method") in SECRET_METHODS,
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
    if any(f.field in IMMUTABLE_FIELDS for f in fields):
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
    if any(f.field in IMMUTABLE_FIELDS for f in fields):
        _plan_replace(plan, client, cid, fields, owner)
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
        if before in SECRET_METHODS and after not in SECRET_METHODS and after:
            change.notes.append(
                "changing token_endpoint_auth_method away from a client secret "
                "makes Digdir delete the secret"
            )
        plan.changes.append(change)
    _keys_change(plan, state, client, cid, live.jwks.get(cid), options)
    _secret_change(plan, state, client, live_client, body, options)


def _plan_replace(
    plan: EnvironmentPlan,
    client: DesiredClient,
    cid: str,
    fields: list[diff.FieldChange],
    owner: str,
) -> None:
    """An immutable field differs: a new client replaces the live one."""
    body = desired_body(client, _marker_for(client, owner, None))
    change = Change(
        plan.name,
        client.key,
        Action.REPLACE,
        cid,
        fields=fields,
        body=body,
        protected=client.protect,
        returns_secret=body.get("token_endpoint_auth_method") in SECRET_METHODS,
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
    safety.check_limits(plan, state.environment.safety)
