"""Plans of a project with several organisations: one Plan per organisation, and the checks
that need more than one organisation's view of a shared listing. Pure, no I/O.

Isolation comes by construction (selvsync.live.organisations hands each organisation only
the clients whose ``client_orgno`` is its own); the checks here refuse what no single
organisation could see on its own:

* a ``client_id:`` that names a client of another organisation (another customer of the same
  supplier, or a client the credential cannot manage at all): refused, never adopted;
* a client that would move between organisations (its key now declared for another orgno):
  a replace, refused unless the client says ``allow_replace: true``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from selvsync.marker import classify_owner
from selvsync.model import Project
from selvsync.plan.actions import Action
from selvsync.plan.changes import Plan
from selvsync.plan.diff import FieldChange

# Summary columns: (heading, actions counted)
COLUMNS: tuple[tuple[str, frozenset[Action]], ...] = (
    ("creates", frozenset({Action.CREATE})),
    ("updates", frozenset(a for a in Action if a not in (Action.CREATE, Action.DEACTIVATE))),
    ("deactivations", frozenset({Action.DEACTIVATE})),
)


@dataclass
class OrgPlan:
    """One organisation's outcome of a plan: its Plan, or why there is none."""

    name: str
    orgno: str
    plan: Plan | None = None
    error: str | None = None  # its configuration is invalid (exit 3)
    failure: str | None = None  # reading live state failed (exit 1)

    @property
    def changed(self) -> bool:
        return self.plan is not None and (
            not self.plan.empty or bool(self.plan.refusals(force=False))
        )


@dataclass
class WorkspacePlan:
    orgno: str
    owner: str
    organisations: list[OrgPlan] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return all(o.plan is None or o.plan.empty for o in self.organisations)

    def refusals(self, *, force: bool = False) -> list[str]:
        return [
            f"{o.name}/{r}"
            for o in self.organisations
            if o.plan is not None
            for r in o.plan.refusals(force=force)
        ]

    def rows(self) -> list[dict[str, Any]]:
        """The summary table: one row per organisation and environment."""
        out: list[dict[str, Any]] = []
        for org in self.organisations:
            if org.plan is None:
                out.append(
                    {
                        "organisation": org.name,
                        "environment": "-",
                        "error": org.error or org.failure,
                    }
                )
                continue
            for env in org.plan.environments:
                row: dict[str, Any] = {"organisation": org.name, "environment": env.name}
                for heading, actions in COLUMNS:
                    row[heading] = sum(1 for c in env.changes if c.action in actions)
                row["refusals"] = len(env.refusals) + len(env.blockers)
                out.append(row)
        return out


def stamp_client_orgno(plan: Plan, orgno: str, environments: set[str]) -> None:
    """Creates reached through a supplier credential carry the customer's ``client_orgno``."""
    for env in plan.environments:
        if env.name not in environments:
            continue
        for change in env.changes:
            if change.action in (Action.CREATE, Action.REPLACE) and change.body is not None:
                change.body["client_orgno"] = orgno
                if not any(f.field == "client_orgno" for f in change.fields):
                    change.fields.append(FieldChange("client_orgno", None, orgno))


def check_foreign_adoptions(
    plan: Plan, project: Project, env: str, raw: Sequence[Mapping[str, Any]], credential_orgno: str
) -> None:
    """A `client_id:` must name a client of this organisation in the listing it shares."""
    state = project.states.get(env)
    target = next((e for e in plan.environments if e.name == env), None)
    if state is None or target is None:
        return
    by_id = {str(c.get("client_id")): c for c in raw}
    for key, client in state.clients.items():
        if not client.client_id:
            continue
        live = by_id.get(client.client_id)
        if live is None:
            continue  # not listed at all: the engine says so (unknown or not ours)
        orgno = str(live.get("client_orgno") or credential_orgno)
        if orgno != project.orgno:
            target.blockers.append(
                f"{key}: client_id {client.client_id} belongs to organisation {orgno}, not "
                f"{project.orgno}: a client is never adopted across organisations "
                "(remove `client_id:` or move the client to the organisation it belongs to)"
            )


def check_moves(
    plans: Mapping[str, Plan],
    projects: Mapping[str, Project],
    env: str,
    raw: Sequence[Mapping[str, Any]],
    credential_orgno: str,
    unloaded: frozenset[str] = frozenset(),
) -> None:
    """A create whose key lives on under another orgno is a move between organisations:
    refused unless the client allows a replace (the old one is then deactivated by its own
    organisation's plan, when that organisation is declared)."""
    declared: dict[tuple[str, str], set[str]] = {}  # (orgno, owner) -> keys declared in env
    for project in projects.values():
        state = project.states.get(env)
        if state is not None:
            declared[(project.orgno, project.owner)] = set(state.clients)
    for name, plan in plans.items():
        project = projects[name]
        target = next((e for e in plan.environments if e.name == env), None)
        if target is None:
            continue
        creates = {c.key for c in target.changes if c.action == Action.CREATE}
        if not creates:
            continue
        for live in raw:
            if live.get("active") is False:
                continue
            orgno = str(live.get("client_orgno") or credential_orgno)
            if orgno == project.orgno or orgno in unloaded:
                continue  # unloaded: a declared organisation this run does not look at
            marker, _ = classify_owner(live.get("description"), project.owner)
            if marker is None or marker.key not in creates:
                continue
            if marker.key in declared.get((orgno, project.owner), set()):
                continue  # the other organisation's own client of the same name
            client = project.states[env].clients[marker.key]
            if client.allow_replace:
                target.notes.append(
                    f"{marker.key}: moves from organisation {orgno} (allow_replace): a new "
                    f"client for {project.orgno}; the old one {live.get('client_id')} is "
                    "deactivated by its organisation's plan, or by hand if it is not declared"
                )
                continue
            target.blockers.append(
                f"{marker.key}: this client exists for organisation {orgno} "
                f"({live.get('client_id')}); a client never moves between organisations: an "
                "orgno change is a replace (set `allow_replace: true` on the client)"
            )
