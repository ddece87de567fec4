"""A saved plan is a request, not an authority.

Anyone who can edit a plan file could add changes (deactivate a foreign client), drop the
refusals and blockers that stopped it, or drop the fingerprints that would show live state
moved. So ``apply PLANFILE`` plans afresh from the current configuration and live state, and
applies only the saved changes that the fresh plan makes too, identically (same action,
client, fields, request body and keys). Ownership, ``protect``, the safety limits and the
blockers are the fresh plan's, never the file's. Pure: both plans come in, one goes out.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from selvsync.errors import StalePlanError
from selvsync.plan import document
from selvsync.plan.changes import Change, EnvironmentPlan, Plan

Identity = tuple[str, str, str, str | None, str | None]


def identity(change: Change) -> Identity:
    """What a change is about: one client, plus the consumer of a grant or revoke or the id
    of an onbehalfof entry (several changes of one action may touch one client or scope)."""
    part = change.entry if change.entry is not None else change.consumer
    return (change.environment, change.key, str(change.action), change.client_id, part)


def content(change: Change) -> str:
    """A digest of everything apply would send for ``change`` (its notes are words only)."""
    data: dict[str, Any] = document.change_as_dict(change, bodies=True)
    data.pop("notes", None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def recheck(saved: Plan, fresh: Plan) -> Plan:
    """The fresh plan cut down to the saved plan's changes; StalePlanError (exit 4) naming
    every saved change that a fresh plan would not make, or would make differently."""
    wanted = {identity(c): content(c) for c in saved.changes}
    problems: list[str] = []
    planned_now = {identity(c): c for c in fresh.changes}
    for change in saved.changes:
        now = planned_now.get(identity(change))
        if now is None:
            problems.append(f"{_label(change)}: a plan from the current configuration and "
                            "live state does not make this change")
        elif content(now) != wanted[identity(change)]:
            problems.append(f"{_label(change)}: a plan made now would do it differently")
    if problems:
        raise StalePlanError(
            "the plan file asks for changes that selvsync would not make now; nothing was "
            "applied:\n  " + "\n  ".join(problems) + "\nRun `selvsync plan --out FILE` again "
            "and review the new plan."
        )
    return Plan(
        fresh.orgno,
        fresh.owner,
        [_restrict(env, set(wanted)) for env in fresh.environments],
        renew_keys=fresh.renew_keys,
    )


def _restrict(env: EnvironmentPlan, wanted: set[Identity]) -> EnvironmentPlan:
    kept = [c for c in env.changes if identity(c) in wanted]
    left = len(env.changes) - len(kept)
    notes = list(env.notes)
    if left:
        notes.append(
            f"{left} change(s) that a plan made now adds were not in the plan file and were "
            "left out; run `selvsync plan` to see them"
        )
    return EnvironmentPlan(
        name=env.name,
        changes=kept,
        warnings=list(env.warnings),
        counts=dict(env.counts),
        fingerprints=dict(env.fingerprints),
        absent=[k for k in env.absent if any(c.key == k for c in kept)],
        notes=notes,
        refusals=list(env.refusals),
        blockers=list(env.blockers),
    )


def _label(change: Change) -> str:
    who = f" ({change.client_id})" if change.client_id else ""
    entry = f" onbehalfof {change.entry}" if change.entry is not None else ""
    return f"{change.environment}: {change.action} '{change.key}'{entry}{who}"
