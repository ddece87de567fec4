"""Whether live state moved since a saved plan (``plan --out``) was made. Pure.

A plan file is the JSON plan plus, per environment, a fingerprint of every live object the
plan read and the keys it planned to create. ``apply PLANFILE`` re-reads live state and refuses
(exit 4, naming what moved) if any fingerprint changed or a planned create already exists; so
applying one plan file twice never duplicates anything. Plan files never hold secrets; reading
and writing them is selvsync.live.planfile's job.
"""

from __future__ import annotations

from typing import Any

from selvsync.errors import StalePlanError
from selvsync.marker import classify_owner, index_managed
from selvsync.plan import onbehalfof as oboplan
from selvsync.plan.changes import (
    JWKS_SUFFIX,
    EnvironmentPlan,
    LiveSnapshot,
    Plan,
    fingerprint,
    jwks_fingerprint,
)


def moved(saved: EnvironmentPlan, live: LiveSnapshot, owner: str) -> list[str]:
    """What changed in live state since ``saved`` was planned, in words."""
    problems: list[str] = []
    current = {str(c.get("client_id")): c for c in live.clients}
    for entry, digest in sorted(saved.fingerprints.items()):
        if entry.endswith(oboplan.SUFFIX):
            problems += _entries_moved(entry[: -len(oboplan.SUFFIX)], digest, current, live,
                                       owner)
            continue
        cid, is_jwks, _ = entry.partition(JWKS_SUFFIX)
        client = current.get(cid)
        if client is None:
            if not is_jwks:
                problems.append(f"client {cid} is gone")
        elif is_jwks:
            if jwks_fingerprint(live.jwks.get(cid, [])) != digest:
                problems.append(
                    f"the keys of {_name(client, owner)} changed since the plan was made"
                )
        elif fingerprint(client) != digest:
            problems.append(f"{_name(client, owner)} changed since the plan was made")
    present = index_managed(live.clients, owner)
    for key in saved.absent:
        if key in present:
            problems.append(f"'{key}' was planned for create but now exists")
    return [f"{saved.name}: {p}" for p in problems]


def _entries_moved(cid: str, digest: str, current: dict[str, dict[str, Any]],
                   live: LiveSnapshot, owner: str) -> list[str]:
    client = current.get(cid)
    if client is None:
        return []  # the client's own fingerprint says it is gone
    entries = oboplan.live_entries(client, live.onbehalfof) or []
    if oboplan.fingerprint(entries) != digest:
        return [f"the onbehalfof entries of {_name(client, owner)} changed since the plan "
                "was made"]
    return []


def onbehalfof_ids(saved: EnvironmentPlan) -> list[str]:
    """The clients whose onbehalfof entries the saved plan compared."""
    return sorted(e[: -len(oboplan.SUFFIX)] for e in saved.fingerprints
                  if e.endswith(oboplan.SUFFIX))


def _name(client: dict[str, Any], owner: str) -> str:
    marker, _ = classify_owner(client.get("description"), owner)
    key = f" ('{marker.key}')" if marker is not None else ""
    return f"client {client.get('client_id')}{key}"


def jwks_ids(saved: EnvironmentPlan) -> list[str]:
    """The clients whose key sets the saved plan read (and so must be re-read)."""
    return sorted(e[: -len(JWKS_SUFFIX)] for e in saved.fingerprints if e.endswith(JWKS_SUFFIX))


def check_fresh(
    saved: Plan, snapshots: dict[str, LiveSnapshot], extra: list[str] | None = None
) -> None:
    """StalePlanError naming everything that moved; ``extra``: what moved among the scopes
    (selvsync.plan.scopes.moved)."""
    problems = [
        p for env in saved.environments for p in moved(env, snapshots[env.name], saved.owner)
    ] + list(extra or [])
    if problems:
        raise StalePlanError(
            "live state moved since the plan was made; nothing was applied:\n  "
            + "\n  ".join(problems)
            + "\nRun `selvsync plan --out FILE` again."
        )
