"""B7: apply 100 creates at 100 ms per request with no limit, and under 5 req/s and 20 req/s
token-bucket limits (429 + Retry-After on every path, burst = one second's worth).

Measures wall (the apply phase, and the whole plan + apply + re-check), failed changes,
duplicates (a key with more than one active client) and 429 answers against all requests
answered. The environment's ``concurrency`` is left at its default: the maximum of the
adaptive window (selvsync.api.pace). Real time: the limiter refills by the clock.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from benchmarks.measure import Phases
from benchmarks.scenarios import Config, Progress, Row, counted
from benchmarks.workload import ENV, OWNER, AdminKey, client_key, login_client, workload
from selvsync.apply.runner import apply_plan
from selvsync.live.planning import plan_project
from selvsync.live.session import Session
from selvsync.marker import parse

APPLY_LIMIT_S = 0.8  # no limit: 100 creates at 100 ms
STORM_SHARE = 0.10  # under a limit: 429 answers below this share of all requests


def rate_scenarios(admin: AdminKey, config: Config, progress: Progress) -> list[Row]:
    rows = []
    for rate in config.b7_rates:
        rows.append(_b7(admin, config, rate, progress))
    return rows


def _b7(admin: AdminKey, config: Config, rate: int, progress: Progress) -> Row:
    creates, existing = config.b7_creates, 10
    latency = config.apply_latency_ms / 1000
    label = f"{rate} req/s" if rate else "no limit"
    progress(f"B7: apply {creates} creates, {config.apply_latency_ms} ms, {label}")
    with workload(existing, admin, keyed=0, concurrency=None) as work:
        declared = dict(work.declared)
        for i in range(existing, existing + creates):
            declared[client_key(i)] = login_client(i)
        work.write(declared)
        project = work.load()
        maximum = project.environments[ENV].concurrency
        work.set_latency(latency)
        if rate:
            work.emu.faults.add("rate_limit", rate=rate, burst=rate)
        outcome: dict[str, Any] = {}

        def run(phases: Phases) -> None:
            with Session(project, work.factory(), command="apply") as session:
                with phases("plan"):
                    plan = plan_project(session)
                with phases("apply"):
                    report = apply_plan(session, plan)
                with phases("recheck"):
                    after = plan_project(session)
                stats = session.client(ENV).pace.stats
            outcome.update(
                changes=len(plan.changes),
                failed=sum(1 for o in report.outcomes if o.status != "applied"),
                messages=[o.message for o in report.outcomes if o.message][:3],
                converged=after.empty,
                pace={
                    "throttles": stats.throttles,
                    "episodes": stats.episodes,
                    "held": stats.held,
                    "min_window": stats.min_window,
                    "max_window": stats.max_window,
                },
            )

        stats, counts = counted(work, run, 1)
        refused = work.metered.statuses[429]
        total = sum(work.metered.statuses.values())
        work.emu.faults.clear()
        markers = Counter(
            marker.key
            for c in work.live(inactive=False)
            if (marker := parse(c.get("description"))[1]) is not None and marker.owner == OWNER
        )
    duplicates = sum(v - 1 for v in markers.values() if v > 1)
    share = refused / total if total else 0.0
    apply_wall = stats.phase("apply")
    if rate:
        target = f"0 failures, 0 duplicates, 429 < {STORM_SHARE:.0%} of requests"
        met = outcome["failed"] == 0 and duplicates == 0 and share < STORM_SHARE
    else:
        target = f"apply phase under {APPLY_LIMIT_S} s wall, 0 failures"
        met = outcome["failed"] == 0 and duplicates == 0 and apply_wall < APPLY_LIMIT_S
    met = met and outcome["converged"] and outcome["changes"] == creates
    row = Row(
        "B7",
        f"apply {creates} creates, {config.apply_latency_ms} ms, {label}, max {maximum}",
        target,
        met,
        counts[-1],
        None,
        stats,
    )
    row.extra = {
        **outcome,
        "rate_limit": rate or None,
        "max_concurrency": maximum,
        "duplicates": duplicates,
        "responses_429": refused,
        "responses_total": total,
        "share_429": round(share, 4),
        "apply_phase_s": round(apply_wall, 4),
        "whole_run_s": round(stats.wall, 4),
    }
    row.verdict = (
        f"apply phase {apply_wall:.2f} s (whole run {stats.wall:.2f} s); "
        f"{outcome['failed']} failed, {duplicates} duplicates, {refused} × 429 of {total} "
        f"requests ({share:.1%}); window {outcome['pace']['min_window']:.0f}.."
        f"{outcome['pace']['max_window']:.0f}"
    )
    return row
