"""Planning Maskinporten scopes (provider side) and checking clients' scopes (consumer side).

Pure: declared scopes and a :class:`ScopeSnapshot` in, changes, notes and safety findings
added to an :class:`EnvironmentPlan`. Ownership needs no marker (a scope's description may be
public): selvsync.yaml names the prefixes or subscope patterns the project owns per
environment; a live scope there that is not declared is orphaned (deactivated), and a scope
anywhere else is never touched.

Access lists: a declared consumer without APPROVED access is granted (a pending REQUESTED entry
is approved that way); an APPROVED consumer no longer declared is revoked, under the
environment's ``max_revocations`` and the scope's ``protect``; a DENIED consumer is never granted
again unless the scope lists it under ``regrant_denied``; a REQUESTED entry nobody declared is
shown with the requester's name and left alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from selvsync.model import DesiredScope, DesiredState
from selvsync.plan.actions import Action
from selvsync.plan.changes import Change, EnvironmentPlan
from selvsync.plan.diff import FieldChange
from selvsync.plan.safety import Refusal, RefusalKind
from selvsync.rules.scopes import IDENTITY, READ_ONLY, compared, is_field, owns

ABSENT: Final = "absent"  # the fingerprint of a scope that did not exist when planned
ACCESS_SUFFIX: Final = "/access"
CONSUMER_TYPES: Final = frozenset({"maskinporten", "krr"})
APPROVED: Final = "APPROVED"
REQUESTED: Final = "REQUESTED"
DENIED: Final = "DENIED"

Json = dict[str, Any]


@dataclass
class ScopeSnapshot:
    """What selvsync.live.scopes read for one environment."""

    scopes: list[Json] = field(default_factory=list)  # own scopes, deactivated ones too
    access: dict[str, list[Json]] = field(default_factory=dict)  # by scope name, where read
    prefixes: list[str] | None = None  # None: not read
    consumer_access: list[Json] | None = None  # the organisation's own access, as consumer
    open_scopes: list[Json] | None = None  # accessible_for_all scopes of the catalogue

    def by_name(self) -> dict[str, Json]:
        return {str(s.get("name") or _name(s)): s for s in self.scopes}


def _name(scope: Mapping[str, Any]) -> str:
    return f"{scope.get('prefix')}:{scope.get('subscope')}"


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def scope_fingerprint(scope: Mapping[str, Any]) -> str:
    core = compared(scope)
    core["active"] = scope.get("active", True)
    core["last_updated"] = scope.get("last_updated")
    return _digest(core)


def access_fingerprint(entries: Iterable[Mapping[str, Any]]) -> str:
    return _digest(sorted(
        (str(e.get("consumer_orgno")), str(e.get("state")), str(e.get("last_updated")))
        for e in entries
    ))


# -- what to read ------------------------------------------------------------------------


def is_provider(state: DesiredState) -> bool:
    return bool(state.scopes or state.environment.scopes.owned)


def access_to_read(state: DesiredState, live_scopes: Iterable[Mapping[str, Any]]) -> list[str]:
    """The live scopes whose access lists the plan needs: the declared ones that exist, and
    the active owned ones that are no longer declared (their consumers would lose access)."""
    owned = state.environment.scopes.owned
    out = set()
    for scope in live_scopes:
        name = str(scope.get("name") or _name(scope))
        if name in state.scopes or (scope.get("active") is not False and owns(owned, name)):
            out.add(name)
    return sorted(out)


def consumer_scopes(state: DesiredState) -> dict[str, list[str]]:
    """Scopes declared by Maskinporten and KRR clients that this organisation does not
    declare itself, by client key (what the consumer check must find access for)."""
    if state.environment.scopes.consumer_check == "off":
        return {}
    out: dict[str, list[str]] = {}
    for key, client in sorted(state.clients.items()):
        if client.fields.get("integration_type") not in CONSUMER_TYPES:
            continue
        wanted = [str(s) for s in client.fields.get("scopes") or () if str(s) not in state.scopes]
        if wanted:
            out[key] = wanted
    return out


def unresolved(state: DesiredState, snap: ScopeSnapshot) -> dict[str, list[str]]:
    """Client scopes with no approved access, own scope or open scope behind them."""
    have = {str(s.get("name") or _name(s)) for s in snap.scopes if s.get("active", True)}
    for entry in snap.consumer_access or ():
        if str(entry.get("state", APPROVED)).upper() == APPROVED:
            have.add(str(entry.get("scope")))
    for scope in snap.open_scopes or ():
        have.add(str(scope.get("name") or _name(scope)))
    out: dict[str, list[str]] = {}
    for key, wanted in consumer_scopes(state).items():
        missing = [s for s in wanted if s not in have]
        if missing:
            out[key] = missing
    return out


# -- the plan ------------------------------------------------------------------------------


def plan_scopes(plan: EnvironmentPlan, state: DesiredState, snap: ScopeSnapshot) -> None:
    """Add scope and access changes (and their fingerprints and findings) to ``plan``."""
    settings = state.environment.scopes
    live = snap.by_name()
    counts = {"managed": 0, "orphaned": 0, "not owned": 0, "inactive": 0}
    for name, scope in live.items():
        if scope.get("active") is False:
            counts["inactive"] += 1
        elif name in state.scopes:
            counts["managed"] += 1
        elif owns(settings.owned, name):
            counts["orphaned"] += 1
        else:
            counts["not owned"] += 1
    if live or state.scopes:
        plan.notes.append("live scopes: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if snap.prefixes is not None:
        given = set(snap.prefixes)
        for name in sorted(state.scopes):
            prefix = name.partition(":")[0]
            if prefix not in given:
                plan.blockers.append(
                    f"scope '{name}': Digdir has not given the prefix '{prefix}' to this "
                    f"organisation (its prefixes: {', '.join(sorted(given)) or 'none'})"
                )
    for name, wanted in sorted(state.scopes.items()):
        _plan_declared(plan, wanted, live.get(name), snap)
    for name, scope in sorted(live.items()):
        if name in state.scopes or scope.get("active") is False:
            continue
        if not owns(settings.owned, name):
            continue
        plan.changes.append(Change(
            plan.name, name, Action.SCOPE_DEACTIVATE,
            notes=["no longer declared under an owned prefix; every consumer loses access at "
                   "once (a deactivated scope can be reactivated by declaring it again)"],
        ))
        plan.scope_fingerprints[name] = scope_fingerprint(scope)
        _refuse_losing_consumers(plan, name, snap.access.get(name, []))
    _check_empty_listing(plan, state, snap)
    _check_safety(plan, state, counts["managed"] + counts["orphaned"])


def _body(wanted: DesiredScope, live: Mapping[str, Any] | None) -> Json:
    """The POST/PUT body: identity, the declared fields, and live fields selvsync does not
    know (a PUT is a full replace: never erase what Digdir added)."""
    body: Json = {}
    if live is not None:
        body.update({
            k: v for k, v in live.items()
            if not is_field(k) and k not in READ_ONLY and k not in IDENTITY and v is not None
        })
    body["prefix"], body["subscope"] = wanted.prefix, wanted.subscope
    body.update({k: v for k, v in wanted.fields.items() if v is not None})
    return body


def _field_changes(wanted: DesiredScope, live: Mapping[str, Any] | None) -> list[FieldChange]:
    want = compared(wanted.fields)
    if live is None:
        return [FieldChange(k, None, v) for k, v in sorted(wanted.fields.items())
                if v is not None]
    have = compared(live)
    return [
        FieldChange(k, have.get(k), want.get(k))
        for k in sorted(set(want) | set(have))
        if want.get(k) != have.get(k)
    ]


def _plan_declared(
    plan: EnvironmentPlan, wanted: DesiredScope, live: Json | None, snap: ScopeSnapshot
) -> None:
    name = wanted.name
    if live is None:
        plan.scope_fingerprints[name] = ABSENT
        plan.changes.append(Change(
            plan.name, name, Action.SCOPE_CREATE, body=_body(wanted, None),
            fields=_field_changes(wanted, None), protected=wanted.protect,
        ))
        entries: list[Json] = []
    else:
        plan.scope_fingerprints[name] = scope_fingerprint(live)
        fields = _field_changes(wanted, live)
        if live.get("active") is False:
            body = _body(wanted, live) | {"active": True}
            plan.changes.append(Change(
                plan.name, name, Action.SCOPE_REACTIVATE, body=body, fields=fields,
                protected=wanted.protect,
                notes=["deactivated at Digdir and declared again: reactivated (PUT active: true)"],
            ))
        elif fields:
            plan.changes.append(Change(
                plan.name, name, Action.SCOPE_UPDATE, body=_body(wanted, live), fields=fields,
                protected=wanted.protect,
            ))
        entries = snap.access.get(name, [])
        plan.scope_fingerprints[name + ACCESS_SUFFIX] = access_fingerprint(entries)
    _plan_access(plan, wanted, entries)


def _label(orgno: str, name: str | None) -> str:
    return f"{name} ({orgno})" if name else orgno


def _plan_access(plan: EnvironmentPlan, wanted: DesiredScope, entries: list[Json]) -> None:
    name = wanted.name
    current = {str(e.get("consumer_orgno")): e for e in entries}
    for orgno, declared_name in sorted(wanted.consumers.items()):
        entry = current.get(orgno)
        state = str(entry.get("state", APPROVED)).upper() if entry else None
        org_name = (entry or {}).get("consumer_organization_name") or declared_name
        if state == APPROVED:
            continue
        notes = []
        if state == REQUESTED:
            notes.append(f"approves the pending request from {_label(orgno, org_name)}")
        elif state == DENIED:
            if orgno not in wanted.regrant_denied:
                plan.blockers.append(
                    f"scope '{name}': {_label(orgno, org_name)} was DENIED access; remove it "
                    "from the consumers, or list it under `regrant_denied:` to grant it anyway"
                )
                continue
            notes.append(f"{_label(orgno, org_name)} was DENIED before; granted because the "
                         "scope lists it under regrant_denied")
        plan.changes.append(Change(
            plan.name, name, Action.GRANT, consumer=orgno, consumer_name=org_name, notes=notes,
        ))
    for orgno, entry in sorted(current.items()):
        if orgno in wanted.consumers:
            continue
        state = str(entry.get("state", APPROVED)).upper()
        org_name = entry.get("consumer_organization_name")
        if state == APPROVED:
            plan.changes.append(Change(
                plan.name, name, Action.REVOKE, consumer=orgno, consumer_name=org_name,
                protected=wanted.protect,
                notes=[f"{_label(orgno, org_name)} loses access at once: its calls with this "
                       "scope fail from the next token"],
            ))
        elif state == REQUESTED:
            since = str(entry.get("created") or "")[:10]
            plan.warnings.append(
                f"pending request: {_label(orgno, org_name)} asked for '{name}'"
                + (f" on {since}" if since else "")
                + f"; to approve it, add \"{orgno}\" to the scope's `consumers:` "
                f"({wanted.locate(())}); to leave it pending, do nothing"
            )


def _check_empty_listing(plan: EnvironmentPlan, state: DesiredState, snap: ScopeSnapshot) -> None:
    if snap.scopes or len(state.scopes) < 2:
        return
    message = (
        f"Digdir listed no scopes at all for this organisation, so all {len(state.scopes)} "
        "declared scopes would be created. If scopes exist in the portal, stop: the listing "
        "may be incomplete"
    )
    if state.environment.safety.refuse_empty_listing:
        plan.refusals.append(message + "; on a true first run, apply with --force")
    else:
        plan.warnings.append(message + ".")


def _refuse_losing_consumers(
    plan: EnvironmentPlan, name: str, entries: list[dict[str, Any]]
) -> None:
    """A scope has no marker to remember `protect:` once it leaves the YAML, so deactivating
    one that consumers still use is refused until the run names it on purpose."""
    users = [e for e in entries if e.get("state") == "APPROVED"]
    if not users:
        return
    who = ", ".join(
        _label(str(e.get("consumer_orgno")), e.get("consumer_organization_name"))
        for e in users[:5]
    ) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
    plan.refusals.append(
        Refusal(
            f"scope '{name}' is no longer declared but {len(users)} consumer(s) use it "
            f"({who}); deactivating it breaks them at once: pass --allow-deactivate {name} "
            "if that is meant",
            RefusalKind.PROTECTED,
            name,
        )
    )


def _check_safety(plan: EnvironmentPlan, state: DesiredState, managed: int) -> None:
    limits = state.environment.safety
    settings = state.environment.scopes
    revokes = [c for c in plan.changes if c.action == Action.REVOKE]
    for change in revokes:
        if change.protected:
            plan.refusals.append(
                f"scope '{change.key}' is protected and would lose consumer "
                f"{_label(str(change.consumer), change.consumer_name)}"
            )
    if len(revokes) > settings.max_revocations:
        who = ", ".join(_label(str(c.consumer), c.consumer_name) for c in revokes[:5])
        more = f" and {len(revokes) - 5} more" if len(revokes) > 5 else ""
        plan.refusals.append(
            f"{len(revokes)} access revocations (limit {settings.max_revocations}): "
            f"{who}{more}"
        )
    gone = [c for c in plan.changes if c.action == Action.SCOPE_DEACTIVATE]
    if managed >= limits.min_managed_for_percent and managed:
        share = 100 * len(gone) / managed
        if share > limits.max_destroy_percent:
            plan.refusals.append(
                f"{len(gone)} of {managed} owned scopes would be deactivated "
                f"({share:.0f} %, limit {limits.max_destroy_percent} %)"
            )


def check_consumers(plan: EnvironmentPlan, state: DesiredState, snap: ScopeSnapshot) -> None:
    """Clients whose scopes this organisation has no approved access to: Digdir would
    answer 400 at apply. Warn, or refuse (``consumer_check: refuse``)."""
    if snap.consumer_access is None:
        return
    refuse = state.environment.scopes.consumer_check == "refuse"
    pending = {
        str(e.get("scope")): str(e.get("state")).upper()
        for e in snap.consumer_access
        if str(e.get("state", APPROVED)).upper() != APPROVED
    }
    for key, missing in unresolved(state, snap).items():
        for scope in missing:
            why = f" (access {pending[scope]})" if scope in pending else ""
            message = (
                f"client '{key}' declares scope '{scope}', but this organisation has no "
                f"approved access to it{why}; ask its provider for access first, or Digdir "
                "will reject the client with 400"
            )
            (plan.refusals if refuse else plan.warnings).append(message)


def moved(plan: EnvironmentPlan, snap: ScopeSnapshot) -> list[str]:
    """What changed among the scopes and access lists ``plan`` read, in words."""
    live = snap.by_name()
    problems: list[str] = []
    for entry, digest in sorted(plan.scope_fingerprints.items()):
        name, is_access, _ = entry.partition(ACCESS_SUFFIX)
        scope = live.get(name)
        if is_access:
            if access_fingerprint(snap.access.get(name, [])) != digest:
                problems.append(f"who may use scope '{name}' changed since the plan was made")
        elif digest == ABSENT:
            if scope is not None:
                problems.append(f"scope '{name}' was planned for create but now exists")
        elif scope is None:
            problems.append(f"scope '{name}' is gone")
        elif scope_fingerprint(scope) != digest:
            problems.append(f"scope '{name}' changed since the plan was made")
    return [f"{plan.name}: {p}" for p in problems]


def access_names(plan: EnvironmentPlan) -> list[str]:
    """The scopes whose access lists a saved plan read (and so must be re-read)."""
    return sorted(
        e[: -len(ACCESS_SUFFIX)] for e in plan.scope_fingerprints if e.endswith(ACCESS_SUFFIX)
    )
