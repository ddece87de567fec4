"""Planning against live state: environments in parallel, and re-checking a saved plan."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from selvsync.errors import StalePlanError
from selvsync.live import planfile
from selvsync.live import scopes as livescopes
from selvsync.live.read import read_jwks, read_live
from selvsync.live.session import Session
from selvsync.plan import freshness
from selvsync.plan.builder import build_environment_plan
from selvsync.plan.changes import EnvironmentPlan, LiveSnapshot, Plan, PlanOptions
from selvsync.plan.recheck import recheck


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
    renew = options.renew_keys if options is not None else False
    return Plan(project.orgno, project.owner, results, renew_keys=renew)


def load_fresh_plan(session: Session, path: Path, now: float) -> Plan:
    """Read a saved plan, check live state did not move, and re-derive it (exit 4 otherwise).

    The listing and the key sets are read once: the fingerprints are checked against them,
    and the fresh plan that decides what of the file may be applied is built from them.
    """
    saved = planfile.read(path)
    project = session.project
    if (saved.orgno, saved.owner) != (project.orgno, project.owner):
        raise StalePlanError(
            f"{path} was made for orgno {saved.orgno} / owner {saved.owner}, "
            f"not {project.orgno} / {project.owner}"
        )
    options = PlanOptions(now=now, renew_keys=saved.renew_keys)
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
        live = read_live(client, state, project.owner)
        present = {str(c.get("client_id")) for c in live.clients}
        missing = [c for c in freshness.jwks_ids(env) if c in present and c not in live.jwks]
        live.jwks.update(read_jwks(client, missing, state.environment.concurrency))
        snapshots[env.name] = live
        plan = build_environment_plan(state, project.owner, live, options)
        scopes = livescopes.plan_scopes(client, state, plan)
        scope_problems += livescopes.moved(client, env, scopes, state.environment.concurrency)
        fresh.append(plan)
    freshness.check_fresh(saved, snapshots, extra=scope_problems)
    return recheck(saved, Plan(project.orgno, project.owner, fresh, renew_keys=saved.renew_keys))
