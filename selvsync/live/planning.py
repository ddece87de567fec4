"""Planning against live state: environments in parallel, and re-checking a saved plan."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from selvsync.api.client import DigdirClient
from selvsync.errors import StalePlanError
from selvsync.live.read import read_jwks, read_live, read_snapshot
from selvsync.live.session import Session
from selvsync.marker import index_managed
from selvsync.model import DesiredState
from selvsync.plan import planfile
from selvsync.plan.builder import build_environment_plan
from selvsync.plan.changes import EnvironmentPlan, LiveSnapshot, Plan, PlanOptions
from selvsync.plan.lifecycle import lookalike_ids


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
    live = read_live(client, state, owner, session.written, listed)
    _read_lookalike_keys(client, state, owner, live)
    return build_environment_plan(state, owner, live, options), live


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
    return Plan(project.orgno, project.owner, results)


def load_fresh_plan(session: Session, path: Path) -> Plan:
    """Read a saved plan and check it against live state; StalePlanError if anything moved.

    Only the objects the plan read are re-read (the listing, plus the key sets it compared),
    so the check costs what the plan cost.
    """
    saved = planfile.read(path)
    project = session.project
    if (saved.orgno, saved.owner) != (project.orgno, project.owner):
        raise StalePlanError(
            f"{path} was made for orgno {saved.orgno} / owner {saved.owner}, "
            f"not {project.orgno} / {project.owner}"
        )
    snapshots = {}
    for env in saved.environments:
        if env.name not in project.states:
            raise StalePlanError(
                f"{path} holds environment '{env.name}', which is not selected or not declared"
            )
        snapshots[env.name] = read_snapshot(
            session.client(env.name),
            planfile.jwks_ids(env),
            project.environments[env.name].concurrency,
        )
    planfile.check_fresh(saved, snapshots)
    return saved
