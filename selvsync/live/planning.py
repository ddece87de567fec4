"""Planning against live state: environments in parallel, and re-checking a saved plan."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from selvsync.api.client import DigdirClient
from selvsync.errors import StalePlanError
from selvsync.live import onbehalfof as liveobo
from selvsync.live import planfile
from selvsync.live import scopes as livescopes
from selvsync.live.read import read_jwks, read_live
from selvsync.live.session import Session
from selvsync.marker import index_managed
from selvsync.model import DesiredState
from selvsync.plan import freshness
from selvsync.plan.builder import build_environment_plan
from selvsync.plan.changes import EnvironmentPlan, LiveSnapshot, Plan, PlanOptions
from selvsync.plan.lifecycle import lookalike_ids
from selvsync.plan.recheck import recheck


def plan_environment(
    session: Session,
    name: str,
    options: PlanOptions | None = None,
    listing: list[dict[str, Any]] | None = None,
) -> tuple[EnvironmentPlan, LiveSnapshot]:
    """Plan one environment (from ``listing`` when it was already read)."""
    state = session.project.states[name]
    client = session.client(name)
    owner = session.project.owner
    listed = session.listing(name) if listing is None else listing
    refresh = options is not None and options.refresh
    now = options.now if options is not None and options.now else None
    live = read_live(client, state, owner, session.written, listed, refresh=refresh, now=now)
    _read_lookalike_keys(client, state, owner, live)
    liveobo.read_entries(client, state, owner, live)
    plan = build_environment_plan(state, owner, live, options)
    livescopes.plan_scopes(client, state, plan)  # API providers' scopes; clients' access
    return plan, live


def _read_lookalike_keys(
    client: DigdirClient, state: DesiredState, owner: str, live: LiveSnapshot
) -> None:
    """Key sets of unmarked clients that may be a declared client whose marker was lost:
    read only when a declared client with keys has no marked live client (a planned create),
    and only for unmarked clients of its integration type."""
    present = set(index_managed(live.clients, owner))
    absent = [
        c
        for key, c in state.clients.items()
        if key not in present and not c.client_id and c.keys and not c.create_new
    ]
    if not absent:
        return
    others = [
        c
        for c in live.clients
        if c.get("active") is not False and str(c.get("client_id")) not in live.jwks
    ]
    ids = lookalike_ids(others, absent, owner)[:_MAX_LOOKALIKE_READS]
    live.jwks.update(read_jwks(client, ids, state.environment.concurrency))


_MAX_LOOKALIKE_READS = 50


def plan_project(
    session: Session, names: Iterable[str] | None = None, options: PlanOptions | None = None
) -> Plan:
    """Plan every (or the named) environment, concurrently; order follows selvsync.yaml."""
    project = session.project
    selected = [n for n in project.states if names is None or n in set(names)]
    for name in selected:
        session.client(name)  # open clients up front: factories need not be thread-safe
    with ThreadPoolExecutor(max_workers=max(1, len(selected)), thread_name_prefix="plan") as pool:
        results = list(pool.map(lambda n: plan_environment(session, n, options)[0], selected))
    renew = options.renew_keys if options is not None else False
    return Plan(project.orgno, project.owner, results, renew_keys=renew)


def load_fresh_plan(session: Session, path: Path, now: float, *, refresh: bool = False) -> Plan:
    """Read a saved plan, check live state did not move, and re-derive it (exit 4 otherwise).

    The listing and the key sets are read once: the fingerprints are checked against them,
    and the fresh plan that decides what of the file may be applied is built from them. Every
    key set the saved plan read is read again (its fingerprint is checked), whether or not
    the marker vouches for it now; ``refresh`` reads every declared one.
    """
    saved = planfile.read(path)
    project = session.project
    if (saved.orgno, saved.owner) != (project.orgno, project.owner):
        raise StalePlanError(
            f"{path} was made for orgno {saved.orgno} / owner {saved.owner}, "
            f"not {project.orgno} / {project.owner}"
        )
    options = PlanOptions(now=now, renew_keys=saved.renew_keys, refresh=refresh)
    snapshots: dict[str, LiveSnapshot] = {}
    fresh: list[EnvironmentPlan] = []
    scope_problems: list[str] = []
    for env in saved.environments:
        if env.name not in project.states:
            raise StalePlanError(
                f"{path} holds environment '{env.name}', which is not selected or not declared"
            )
        client = session.client(env.name)
        state = project.states[env.name]
        live = read_live(client, state, project.owner, refresh=refresh, now=now)
        present = {str(c.get("client_id")) for c in live.clients}
        missing = [c for c in freshness.jwks_ids(env) if c in present and c not in live.jwks]
        live.jwks.update(read_jwks(client, missing, state.environment.concurrency))
        liveobo.read_entries(client, state, project.owner, live, freshness.onbehalfof_ids(env))
        snapshots[env.name] = live
        plan = build_environment_plan(state, project.owner, live, options)
        scopes = livescopes.plan_scopes(client, state, plan)
        scope_problems += livescopes.moved(client, env, scopes, state.environment.concurrency)
        fresh.append(plan)
    freshness.check_fresh(saved, snapshots, extra=scope_problems)
    return recheck(saved, Plan(project.orgno, project.owner, fresh, renew_keys=saved.renew_keys))
