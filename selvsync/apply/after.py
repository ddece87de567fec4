"""The check after an apply: wait until the listing shows this run's writes, plan again, and
retire the twins this run made in a race."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from selvsync.live.planning import plan_environment
from selvsync.live.session import Session
from selvsync.plan.builder import build_environment_plan
from selvsync.plan.changes import LiveSnapshot, Plan
from selvsync.plan.races import find_twins
from selvsync.plan.results import AfterApply, Retired, Unsettled

Progress = Callable[[str], None]

# Waits between listings while they lag: short first (most lags are), then at most this.
_FIRST_WAIT: Final = 2.0
_LONGEST_WAIT: Final = 15.0


def settle(
    session: Session, name: str, progress: Progress = lambda _: None
) -> tuple[list[dict[str, Any]], Unsettled | None]:
    """Read-your-writes: list ``name`` until every client this run created, updated or
    deactivated shows as written, for at most the environment's ``settle_seconds``.

    Digdir documents that changes take 0 to 2 minutes to reach its services; a run that
    exits before its listing shows its creates would let the next run (say the next CI job)
    create them again. Costs no request when the first listing already shows everything.
    Waits with the API client's own sleep, so tests never really wait."""
    bound = float(session.project.environments[name].settle_seconds)
    client = session.client(name)
    listing = session.listing(name)
    waited, step = 0.0, _FIRST_WAIT
    if bound <= 0:
        return listing, None  # turned off: trust this run's own writes (see WriteLog.merge)
    while True:
        pending = session.written.pending(name, listing)
        if not pending:
            if waited:
                progress(f"{name}: the listing shows every write of this run ({waited:.0f} s)")
            return listing, None
        if waited >= bound:
            return listing, Unsettled(name, waited, pending)
        pause = min(step, bound - waited)
        progress(
            f"{name}: the listing does not show {len(pending)} of this run's writes yet "
            f"(Digdir: 0-2 minutes); waiting {pause:.0f} s ({waited:.0f} of at most "
            f"{bound:.0f} s)"
        )
        client.pause(pause)
        waited += pause
        step = min(step * 2, _LONGEST_WAIT)
        listing = session.listing(name)


def check_after_apply(session: Session, progress: Progress = lambda _: None) -> AfterApply:
    """Wait for the listing to show this run's writes, then plan again (what is left?),
    first deactivating this run's own twins.

    See selvsync.plan.races: when another apply created the same client at the same time, the
    earlier one is kept and the run that made the later one deactivates it. Costs nothing
    extra unless the listing lags or twins are found: the check's own listing is used.
    """
    project = session.project
    selected = list(project.states)
    for name in selected:
        session.client(name)  # open clients up front: factories need not be thread-safe

    def one(name: str) -> AfterApply:
        listing, unsettled = settle(session, name, progress)
        plan, live = plan_environment(session, name, listing=listing)
        found = AfterApply(Plan(project.orgno, project.owner, [plan]))
        if unsettled is not None:
            found.unsettled.append(unsettled)
        if not plan.blockers:
            return found
        written = session.written
        twins_found = find_twins(
            live.clients, project.owner, written.created(name), written.replacements(name)
        )
        for twins in twins_found:
            for cid in twins.retire:
                session.client(name).deactivate_client(cid)
                session.written.deactivated(name, cid)
                found.retired.append(Retired(name, twins.key, twins.kept, cid))
            if len(twins.retire) < len(twins.others):
                found.twins.append((name, twins))
        if found.retired:
            merged = session.written.merge(name, live.clients)
            live = LiveSnapshot(
                merged, live.jwks, live.merchant, live.onbehalfof, vouched=live.vouched
            )
            plan = build_environment_plan(project.states[name], project.owner, live)
            found.plan = Plan(project.orgno, project.owner, [plan])
        return found

    with ThreadPoolExecutor(max_workers=max(1, len(selected)), thread_name_prefix="check") as pool:
        results = list(pool.map(one, selected))
    return AfterApply(
        Plan(project.orgno, project.owner, [env for r in results for env in r.plan.environments]),
        [done for r in results for done in r.retired],
        [pair for r in results for pair in r.twins],
        [late for r in results for late in r.unsettled],
    )
