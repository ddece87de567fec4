"""One run over several organisations: shared connections, shared listings, per-organisation
sessions.

A *route* is how one organisation reaches one environment: through the project's credential
(a supplier's, or the group's) or through a connection of its own. Organisations on one route
share one API client (one token, one pace) and one listing per phase; each gets an
:class:`OrgSession`, an ordinary :class:`~selvsync.live.session.Session` whose listing holds
only the clients whose ``client_orgno`` is the organisation's. Everything the engine plans or
applies for an organisation therefore starts from its own clients: another organisation's
client cannot be orphaned, adopted or edited by it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from selvsync.api.client import DigdirClient
from selvsync.api.connect import ClientFactory
from selvsync.errors import SelvsyncError
from selvsync.live.planning import plan_project
from selvsync.live.read import list_all
from selvsync.live.session import Session
from selvsync.model import Organisation, Project, Workspace
from selvsync.plan import organisations as orgplan
from selvsync.plan.changes import Plan, PlanOptions

Route = tuple[str, ...]
# Organisations planned at once. Each plans its environments in parallel too; organisations
# on one route share that route's pace, so this bounds threads, not requests.
ORG_WORKERS = 8


@dataclass
class WorkspaceRun:
    """Connections and listings for one command over a workspace."""

    workspace: Workspace
    factory_for: Callable[[Project], ClientFactory]
    command: str = "plan"
    _factories: dict[str, ClientFactory] = field(default_factory=dict)
    _clients: dict[Route, DigdirClient] = field(default_factory=dict)
    _listings: dict[Route, list[dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _route_locks: dict[Route, threading.Lock] = field(default_factory=dict)
    sessions: dict[str, OrgSession] = field(default_factory=dict)

    # -- routes -----------------------------------------------------------------------

    def route(self, org: Organisation, env: str) -> Route:
        if env in org.own_connection:
            return ("own", org.name, env)
        return ("shared", env)

    def shared(self, org: Organisation, env: str) -> bool:
        """Reached through the project's credential for another organisation (a supplier)."""
        return env not in org.own_connection and org.orgno != self.workspace.orgno

    def credential_orgno(self, route: Route) -> str:
        if route[0] == "own":
            return self.workspace.organisations[route[1]].orgno
        return self.workspace.orgno

    def client(self, org: Organisation, env: str) -> DigdirClient:
        route = self.route(org, env)
        with self._lock:
            if route not in self._clients:
                if route[0] == "own":
                    project = self.workspace.projects[org.name]
                    factory = self._factory(org.name, project)
                    settings = project.environments[env]
                else:
                    factory = self._factory("", self.workspace.top_project())
                    settings = self.workspace.environments[env]
                self._clients[route] = factory(settings, self.command)
            return self._clients[route]

    def _factory(self, name: str, project: Project) -> ClientFactory:
        if name not in self._factories:
            self._factories[name] = self.factory_for(project)
        return self._factories[name]

    # -- listings ---------------------------------------------------------------------

    def raw_listing(self, org: Organisation, env: str) -> list[dict[str, Any]]:
        """The route's whole listing, read once per phase (see :meth:`refresh`)."""
        route = self.route(org, env)
        with self._lock:
            lock = self._route_locks.setdefault(route, threading.Lock())
        with lock:
            if route not in self._listings:
                self._listings[route] = list_all(self.client(org, env))
            return self._listings[route]

    def listing(self, org: Organisation, env: str) -> list[dict[str, Any]]:
        """Only ``org``'s clients: those whose ``client_orgno`` is its orgno."""
        credential = self.credential_orgno(self.route(org, env))
        return [
            c
            for c in self.raw_listing(org, env)
            if str(c.get("client_orgno") or credential) == org.orgno
        ]

    def refresh(self) -> None:
        """Forget the listings: the next phase (the check after apply) reads afresh."""
        with self._lock:
            self._listings.clear()

    def session(self, name: str) -> OrgSession:
        if name not in self.sessions:
            org = self.workspace.organisations[name]
            project = self.workspace.projects[name]
            self.sessions[name] = OrgSession(
                project, self._factory(name, project), self.command, run=self, org=org
            )
        return self.sessions[name]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        self._listings.clear()


@dataclass
class OrgSession(Session):
    """A Session for one organisation of a workspace: its clients come from the run."""

    run: WorkspaceRun | None = None
    org: Organisation | None = None

    def _parts(self) -> tuple[WorkspaceRun, Organisation]:
        assert self.run is not None and self.org is not None
        return self.run, self.org

    def client(self, env: str) -> DigdirClient:
        run, org = self._parts()
        return run.client(org, env)

    def prefetch_listings(self, names: Iterable[str]) -> None:
        return None  # the run reads each route's listing once

    def listing(self, env: str) -> list[dict[str, Any]]:
        run, org = self._parts()
        return run.listing(org, env)

    def close(self) -> None:
        return None  # the run owns the connections


def plan_workspace(run: WorkspaceRun, options: PlanOptions | None = None) -> orgplan.WorkspacePlan:
    """Plan every loaded organisation through the single-organisation engine, then check
    what only the shared listings show (foreign adoptions, moves between organisations)."""
    ws = run.workspace
    result = orgplan.WorkspacePlan(ws.orgno, ws.owner)
    names = [n for n in ws.selected if n in ws.projects]

    def one(name: str) -> tuple[Plan | None, str | None]:
        try:
            return plan_project(run.session(name), options=options), None
        except SelvsyncError as exc:
            return None, str(exc)

    with ThreadPoolExecutor(max_workers=max(1, min(ORG_WORKERS, len(names)))) as pool:
        outcomes = dict(zip(names, pool.map(one, names), strict=True))
    plans = {n: p for n, (p, _) in outcomes.items() if p is not None}
    cross_check(run, plans)
    for name in ws.selected:
        org = ws.organisations[name]
        entry = orgplan.OrgPlan(name, org.orgno)
        if name in ws.errors:
            entry.error = str(ws.errors[name])
        else:
            entry.plan, entry.failure = outcomes[name]
        result.organisations.append(entry)
    return result


def cross_check(run: WorkspaceRun, plans: dict[str, Plan]) -> None:
    """Stamp supplier creates with the customer's orgno; refuse what crosses organisations."""
    ws = run.workspace
    routes: dict[tuple[Route, str], list[str]] = {}
    for name, plan in plans.items():
        org = ws.organisations[name]
        project = ws.projects[name]
        stamped = {e.name for e in plan.environments if run.shared(org, e.name)}
        orgplan.stamp_client_orgno(plan, org.orgno, stamped)
        for env_plan in plan.environments:
            route = run.route(org, env_plan.name)
            routes.setdefault((route, env_plan.name), []).append(name)
            raw = run.raw_listing(org, env_plan.name)
            credential = run.credential_orgno(route)
            orgplan.check_foreign_adoptions(plan, project, env_plan.name, raw, credential)
    for (route, env), names in routes.items():
        first = ws.organisations[names[0]]
        orgplan.check_moves(
            {n: plans[n] for n in names},
            {n: ws.projects[n] for n in names},
            env,
            run.raw_listing(first, env),
            run.credential_orgno(route),
            frozenset(o.orgno for n, o in ws.organisations.items() if n not in plans),
        )
