"""Planning against live state: environments in parallel, and re-checking a saved plan."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from selvsync.errors import StalePlanError
from selvsync.live import scopes as livescopes
from selvsync.live.read import read_live, read_snapshot
from selvsync.live.session import Session
from selvsync.plan import planfile
from selvsync.plan.builder import build_environment_plan
from selvsync.plan.changes import EnvironmentPlan, LiveSnapshot, Plan, PlanOptions


def plan_environment(
    session: Session, name: str, options: PlanOptions | None = None
) -> tuple[EnvironmentPlan, LiveSnapshot]:
    state = session.project.states[name]
    client = session.client(name)
    live = read_live(client, state, session.project.owner, session.written, session.listing(name))
    plan = build_environment_plan(state, session.project.owner, live, options)
    livescopes.plan_scopes(client, state, plan)  # API providers' scopes; clients' access
    return plan, live


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
    scope_problems = [
        p
        for env in saved.environments
        for p in livescopes.moved(
            session.client(env.name), env, project.environments[env.name].concurrency
        )
    ]
    planfile.check_fresh(saved, snapshots, extra=scope_problems)
    return saved
