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
from selvsync.plan import diff, lifecycle, safety
from selvsync.plan import keys as keyplan
from selvsync.plan import merchant as merchantplan
from selvsync.plan import onbehalfof as oboplan
from selvsync.plan import secrets as secretplan
from selvsync.plan.actions import Action
from selvsync.plan.changes import (
    Change,
    EnvironmentPlan,
    LiveSnapshot,
    PlanOptions,
)
from selvsync.plan.lossless import put_body
from selvsync.rules.fields import IMMUTABLE_FIELDS, SECRET_METHODS


def desired_body(client: DesiredClient, marker: Marker) -> dict[str, Any]:
    body = diff.writable(client.fields)
    body["description"] = compose(client.fields.get("description"), marker)
    return body


def _marker_for(client: DesiredClient, owner: str, existing: Marker | None) -> Marker:
    keep = existing if existing is not None else Marker(owner, client.key)
    return keep.with_(owner=owner, key=client.key, protected=client.protect)


def update_body(
    client: DesiredClient, owner: str, live_client: dict[str, Any], existing: Marker | None
) -> dict[str, Any]:
    """The PUT body for a live client: the live client with the declared fields over it."""
    declared = desired_body(client, _marker_for(client, owner, existing))
    return put_body(live_client, declared, client.ignore)


def _keys_change(
    plan: EnvironmentPlan,
    state: DesiredState,
    client: DesiredClient,
    client_id: str | None,
    live: list[dict[str, Any]] | None,
    options: PlanOptions,
    body: dict[str, Any] | None = None,
) -> None:
    """``body``: the client as the plan leaves it (a lossless PUT body), which apply sends
    again after the key write with the new key set recorded in the marker (``j=``)."""
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
            body=body,
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
    groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # active ours, by key
    # Active clients that are not ours (unmarked, foreign), in listing order.
    others: list[dict[str, Any]] = field(default_factory=list)
    # Our keys whose live client moves to another key in this plan (renames): never orphans.
    moved: set[str] = field(default_factory=set)
    # Old clients of a replace that did not finish, by key: deactivated to complete it.
    leftovers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # How the API spells onbehalfof entries' name and URL (selvsync.plan.onbehalfof).
    spelling: tuple[str, str] = oboplan.DEFAULT_SPELLING


def _build_environment_plan(
    state: DesiredState, owner: str, live: LiveSnapshot, options: PlanOptions | None
) -> EnvironmentPlan:
    options = options or PlanOptions(now=time.time())
    plan = EnvironmentPlan(state.environment.name)
    # 1. Sort the live clients by owner and marker key, and count them.
    index = _index_live(live, state, owner)
    plan.counts = index.counts
    plan.others = lifecycle.others_summary(index.others, owner)
    if any(c.onbehalfof is not None for c in state.clients.values()):
        index.spelling = oboplan.spelling_of(live.clients, live.onbehalfof.values())
    # 2. Two active clients with one marker: an unfinished replace is completed; anything
    #    else a person must resolve first.
    _resolve_duplicates(plan, index, state)
    _block_duplicates(plan, index)
    # 3. Every declared client: adopt, create, or compare with its live counterpart.
    for _, wanted in sorted(state.clients.items()):
        _plan_declared(plan, state, wanted, index, owner, live, options)
    # 4. Ours but no longer declared: deactivate (after its successor, if it has one).
    _plan_deactivations(plan, state, index, live, options)
    lifecycle.link_successors(plan, index.by_id)
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
            index.groups.setdefault(marker.key, []).append(client)
            managed = marker.key in state.clients
            index.counts[str(Ownership.MANAGED if managed else Ownership.ORPHANED)] += 1
        else:
            index.counts[str(Ownership.FOREIGN if foreign else Ownership.UNMARKED)] += 1
            index.others.append(client)
    return index


def _resolve_duplicates(plan: EnvironmentPlan, index: _LiveIndex, state: DesiredState) -> None:
    """Twins that differ in integration_type are a replace that did not finish: the one that
    matches the YAML is the client; the others are left for deactivation."""
    for key in sorted(set(index.duplicates)):
        wanted = state.clients.get(key)
        kind = wanted.fields.get("integration_type") if wanted is not None else None
        group = index.groups.get(key, [])
        matching = [c for c in group if c.get("integration_type") == kind]
        if kind is None or len(matching) != 1:
            continue
        index.ours[key] = matching[0]
        index.leftovers[key] = [c for c in group if c is not matching[0]]
        index.duplicates = [k for k in index.duplicates if k != key]


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
    renamed = wanted.renamed_from
    if live_client is None and wanted.client_id:
        live_client = _adoptable(plan, wanted, index, owner, state)
        if live_client is None:
            return
        _, held = parse(live_client.get("description"))
        if held is not None and held.owner == owner:
            _plan_rename(plan, state, wanted, live_client, owner, live, options, index)
        else:
            _plan_adopt(plan, state, wanted, live_client, owner, live, options, held)
    elif live_client is None and renamed and renamed in index.ours:
        live_client = index.ours[renamed]
        _plan_rename(plan, state, wanted, live_client, owner, live, options, index)
    elif live_client is None:
        previous = lifecycle.previous_owner_client(index.others, wanted, state.previous_owners)
        if previous is not None:
            live_client = previous
            _, held = parse(previous.get("description"))
            _plan_adopt(plan, state, wanted, previous, owner, live, options, held)
        elif not lifecycle.block_lookalikes(plan, wanted, index.others, live.jwks, owner):
            _plan_create(plan, wanted, owner, index.inactive_ours.get(wanted.key))
            if renamed:
                plan.notes.append(
                    f"{wanted.key}: renamed_from: no active client carries the key "
                    f"'{renamed}', so '{wanted.key}' is created"
                )
    else:
        _plan_existing(plan, state, wanted, live_client, owner, live, options)
        if renamed:
            plan.notes.append(
                f"{wanted.key}: the rename from '{renamed}' is done; remove `renamed_from:`"
            )
        for old in index.leftovers.get(wanted.key, []):
            lifecycle.finish_replace(plan, wanted, live_client, old, live)
            _fingerprint(plan, live, old, options)
    _merchant_change(plan, state, wanted, live_client, live)
    _onbehalfof_changes(plan, wanted, live_client, live, index)


def _onbehalfof_changes(
    plan: EnvironmentPlan,
    wanted: DesiredClient,
    live_client: dict[str, Any] | None,
    live: LiveSnapshot,
    index: _LiveIndex,
) -> None:
    if wanted.onbehalfof is None:
        return
    made = {c.action for c in plan.changes if c.key == wanted.key} & {
        Action.CREATE, Action.REPLACE}
    if made:  # a new client has no entries yet: apply writes them to the one it made
        oboplan.plan_client(plan, wanted, None, None, index.spelling)
    elif live_client is not None:
        entries = oboplan.live_entries(live_client, live.onbehalfof)
        oboplan.plan_client(
            plan, wanted, str(live_client["client_id"]), entries, index.spelling
        )


def _plan_deactivations(
    plan: EnvironmentPlan,
    state: DesiredState,
    index: _LiveIndex,
    live: LiveSnapshot,
    options: PlanOptions,
) -> None:
    for key, client in sorted(index.ours.items()):
        if key in state.clients or key in index.moved:
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
        _fingerprint(plan, live, client, options)


def _fingerprint(
    plan: EnvironmentPlan, live: LiveSnapshot, client: dict[str, Any], options: PlanOptions
) -> None:
    """Record what the plan read of ``client`` (only when the plan may go to a file)."""
    if options.fingerprints:
        plan.fingerprints.update(live.fingerprints(client))


def _check_empty_listing(plan: EnvironmentPlan, state: DesiredState, live: LiveSnapshot) -> None:
    safety.check_empty_listing(plan, state, live)


def _adoptable(
    plan: EnvironmentPlan,
    client: DesiredClient,
    index: _LiveIndex,
    owner: str,
    state: DesiredState,
) -> dict[str, Any] | None:
    """The live client `client_id:` pins, if it may be taken: unmarked, one of ours under
    another key (a rename), or under a previous owner's marker (an owner change)."""
    target = index.by_id.get(str(client.client_id))
    if target is None or target.get("active") is False:
        status = "deactivated" if target is not None else "not found"
        plan.blockers.append(
            f"client '{client.key}': client_id {client.client_id} to adopt is "
            f"{status}; remove `client_id:` to create a new client instead"
        )
        return None
    marker, foreign = classify_owner(target.get("description"), owner)
    _, held = parse(target.get("description"))
    if marker is not None:
        if marker.key in state.clients:
            plan.blockers.append(
                f"client '{client.key}': client_id {client.client_id} is '{marker.key}', "
                f"which is still declared; remove `client_id:` or '{marker.key}'"
            )
            return None
        index.moved.add(marker.key)
        return target
    if foreign and not (held is not None and held.owner in state.previous_owners):
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
    held: Marker | None = None,
) -> None:
    cid = str(live_client["client_id"])
    body = update_body(client, owner, live_client, held)
    fields = diff.compare(body, live_client, client.ignore)
    note = "takes over an existing client: writes selvsync's marker into its description"
    if held is not None:
        note = (
            f"moves the client from owner '{held.owner}' to '{owner}' (previous_owners): "
            "rewrites its marker; nothing is created or deactivated"
        )
    change = Change(
        plan.name,
        client.key,
        Action.ADOPT,
        cid,
        fields=fields,
        body=body,
        protected=client.protect,
        notes=[note, *lifecycle.kept_note(live_client, client.ignore)],
    )
    if any(f.field in IMMUTABLE_FIELDS for f in fields):
        plan.blockers.append(
            f"client '{client.key}': cannot adopt {cid}: integration_type differs and cannot change"
        )
    plan.changes.append(change)
    _fingerprint(plan, live, live_client, options)
    _keys_change(plan, state, client, cid, live.keys_of(cid, client.keys), options, body)


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
    body = update_body(client, owner, live_client, existing)
    fields = diff.compare(body, live_client, client.ignore)
    _fingerprint(plan, live, live_client, options)
    if any(f.field in IMMUTABLE_FIELDS for f in fields):
        _plan_replace(plan, client, cid, fields, owner, live.keys_of(cid, client.keys))
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
        change.notes.extend(lifecycle.kept_note(live_client, client.ignore))
        plan.changes.append(change)
    _keys_change(plan, state, client, cid, live.keys_of(cid, client.keys), options, body)
    _secret_change(plan, state, client, live_client, body, options)


def _plan_rename(
    plan: EnvironmentPlan,
    state: DesiredState,
    client: DesiredClient,
    live_client: dict[str, Any],
    owner: str,
    live: LiveSnapshot,
    options: PlanOptions,
    index: _LiveIndex,
) -> None:
    """The live client of another of our keys becomes this key's: one PUT rewriting its
    marker (plus any field changes); nothing is created or deactivated."""
    cid = str(live_client["client_id"])
    _, existing = parse(live_client.get("description"))
    assert existing is not None
    index.moved.add(existing.key)
    body = update_body(client, owner, live_client, existing)
    fields = diff.compare(body, live_client, client.ignore)
    _fingerprint(plan, live, live_client, options)
    if any(f.field in IMMUTABLE_FIELDS for f in fields):
        plan.blockers.append(
            f"client '{client.key}': cannot rename '{existing.key}' ({cid}): its "
            "integration_type differs and cannot change; rename first, then change it"
        )
        return
    how = "client_id" if client.client_id else "renamed_from"
    plan.changes.append(
        Change(
            plan.name,
            client.key,
            Action.RENAME,
            cid,
            fields=fields,
            body=body,
            protected=client.protect,
            renamed_from=existing.key,
            notes=[
                f"renames '{existing.key}' to '{client.key}' ({how}): rewrites the marker "
                "in its description; the client_id and credentials stay",
                *lifecycle.kept_note(live_client, client.ignore),
            ],
        )
    )
    _keys_change(plan, state, client, cid, live.keys_of(cid, client.keys), options, body)
    _secret_change(plan, state, client, live_client, body, options)


def _plan_replace(
    plan: EnvironmentPlan,
    client: DesiredClient,
    cid: str,
    fields: list[diff.FieldChange],
    owner: str,
    old_keys: list[dict[str, Any]] | None = None,
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
        lifecycle.move_keys(change, old_keys or [])
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
    oboplan.check_limits(plan, state.environment.safety, state.clients)
