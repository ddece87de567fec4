"""The check after an apply: plan again, and retire the twins this run made in a race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from selvsync.live.planning import plan_environment
from selvsync.live.session import Session
from selvsync.plan.builder import build_environment_plan
from selvsync.plan.changes import LiveSnapshot, Plan
from selvsync.plan.races import find_twins
from selvsync.plan.results import AfterApply, Retired


def check_after_apply(session: Session) -> AfterApply:
    """Plan again after an apply (what is left?), first deactivating this run's own twins.

    See selvsync.plan.races: when another apply created the same client at the same time, the
    earlier one is kept and the run that made the later one deactivates it. Costs nothing
    extra unless twins are found: the check's own listing is used.
    """
    project = session.project
    selected = list(project.states)
    for name in selected:
        session.client(name)  # open clients up front: factories need not be thread-safe

    def one(name: str) -> AfterApply:
        plan, live = plan_environment(session, name)
        found = AfterApply(Plan(project.orgno, project.owner, [plan]))
        if not plan.blockers:
            return found
        for twins in find_twins(live.clients, project.owner, session.written.created(name)):
            for cid in twins.retire:
                session.client(name).deactivate_client(cid)
                session.written.deactivated(name, cid)
                found.retired.append(Retired(name, twins.key, twins.kept, cid))
            if len(twins.retire) < len(twins.others):
                found.twins.append((name, twins))
        if found.retired:
            merged = session.written.merge(name, live.clients)
            live = LiveSnapshot(merged, live.jwks, live.merchant)
            plan = build_environment_plan(project.states[name], project.owner, live)
            found.plan = Plan(project.orgno, project.owner, [plan])
        return found

    with ThreadPoolExecutor(max_workers=max(1, len(selected)), thread_name_prefix="check") as pool:
        results = list(pool.map(one, selected))
    return AfterApply(
        Plan(project.orgno, project.owner, [env for r in results for env in r.plan.environments]),
        [done for r in results for done in r.retired],
        [pair for r in results for pair in r.twins],
    )
