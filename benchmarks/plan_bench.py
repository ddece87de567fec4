"""B1, B2 and B5: plan with no changes at N clients, against the peers (benchmarks.baselines);
the whole `selvsync plan` process at N = 5000 against an API in another process; and load +
validate + diff without network, at two sizes (nothing quadratic)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.baselines import (
    SCRIPT,
    TERRAFORM_DEFAULT,
    TERRAFORM_WIDE,
    TF10,
    digdirator_reconcile,
    one_listing_script,
    terraform_refresh,
)
from benchmarks.measure import Phases, Stats, peak_memory_mib, profile_top
from benchmarks.remote import plan_process, remote_emulator
from benchmarks.scenarios import Config, Progress, Row, counted, plan_minimum, plan_phase
from benchmarks.workload import ENV, AdminKey, Workload, workload
from selvsync.live.read import vouched_ids
from selvsync.model import Project
from selvsync.plan.builder import build_environment_plan
from selvsync.plan.changes import LiveSnapshot, Plan, PlanOptions


def _offline(work: Workload, loaded: list[Project]) -> Callable[[Phases], Plan]:
    """Load + validate + diff, no network: the live snapshot is read once, beforehand.
    Each run appends the project it loaded to ``loaded`` (so nobody loads it again)."""
    # As a plan reads it: the listing only; the markers vouch for the declared key sets.
    live = work.live()
    snapshot = LiveSnapshot(live, {}, vouched=_vouched(work, live))
    options = PlanOptions(now=time.time(), fingerprints=False)  # as `selvsync plan` runs

    def run(phases: Phases) -> Plan:
        with phases("load"):
            project = work.load()
        with phases("diff"):
            env = build_environment_plan(project.states[ENV], project.owner, snapshot, options)
        loaded[:] = [project]
        return Plan(project.orgno, project.owner, [env])

    return run


def _vouched(work: Workload, live: list[dict[str, Any]]) -> frozenset[str]:
    project = work.load()
    ids = [work.ids[key] for key in work.jwks]
    return vouched_ids(live, project.states[ENV], project.owner, ids, time.time())


def plan_scenarios(admin: AdminKey, config: Config, progress: Progress) -> list[Row]:
    rows: list[Row] = []
    for n in config.sizes:
        progress(f"B1: seeding N={n}")
        with workload(n, admin) as work:
            rows.extend(_plan_size(work, config, progress))
    return rows


def _plan_size(work: Workload, config: Config, progress: Progress) -> list[Row]:
    n = work.n
    rows: list[Row] = []
    # Loading 1000+ clients takes seconds (see B5): fewer runs of what includes it.
    heavy = n >= 1000
    runs = max(1, config.runs - 2) if heavy else config.runs
    loaded: list[Project] = []
    offline_run = _offline(work, loaded)
    progress(f"B1: N={n}: load + validate + diff (offline)")
    offline, _ = counted(work, offline_run, runs)
    (project,) = loaded
    peak = None
    if n <= config.memory_max_n:
        progress(f"B1: N={n}: peak memory")

        def traced(phases: Phases) -> None:
            plan_phase(work, work.load(), phases)

        peak = peak_memory_mib(traced)
    for latency_ms in config.latencies_ms:
        progress(f"B1: N={n}, {latency_ms} ms: plan")
        work.set_latency(latency_ms / 1000)
        plans: list[Plan] = []

        def run(phases: Phases) -> None:
            plans.append(plan_phase(work, project, phases))  # noqa: B023 - used at once

        stats, counts = counted(work, run, runs)
        empty = all(p.empty for p in plans)
        progress(f"B1: N={n}, {latency_ms} ms: peers")
        peers = [
            terraform_refresh(work, config.baseline_runs, config.refresh_cap, TERRAFORM_DEFAULT),
            terraform_refresh(
                work, config.baseline_runs, config.refresh_cap * 3, TERRAFORM_WIDE
            ),
            digdirator_reconcile(
                work, config.baseline_runs, max(2, config.reconcile_budget // max(n, 1))
            ),
            one_listing_script(work, config.baseline_runs),
        ]
        minimum = plan_minimum(n)
        steady = all(c == counts[0] for c in counts)
        row = Row(
            "B1",
            f"N={n}, {latency_ms} ms",
            "requests = minimum (token + 1 listing) for every N",
            None,
            counts[-1],
            minimum,
            stats,
            peak,
            peers,
        )
        row.extra = {
            "n": n,
            "latency_ms": latency_ms,
            "plan_empty": empty,
            "requests_same_every_run": steady,
            "load_s": round(offline.phase("load"), 4),
            "end_to_end_s": round(offline.phase("load") + stats.phase("plan"), 4),
            "emulator_cpu_note": "cpu_s excludes the in-process emulator's CPU; cpu_total_s not",
        }
        ok = empty and steady and row.total_requests == minimum
        if n == 1000 and latency_ms == 100:
            tf = row.ratio(TF10) or 0.0
            script = row.ratio(SCRIPT) or 0.0
            row.target += f"; ≥ 20× faster than {TF10}; at least as fast as the {SCRIPT}"
            row.extra["terraform_ratio_target"] = 20
            row.extra["script_ratio_target"] = 1
            ok = ok and tf >= 20 and script >= 1
        row.met = ok
        row.verdict = f"{row.total_requests} requests (minimum {minimum})" + (
            "" if empty else "; PLAN NOT EMPTY"
        )
        rows.append(row)
        if n == max(config.sizes) and latency_ms == max(config.latencies_ms):
            rows.append(_b2(work, counts[-1], config, progress))
    work.set_latency(0)
    if n == max(config.sizes):
        rows.append(_b5(work, offline, offline_run, config, progress))
    return rows


def _b2(work: Workload, plan_counts: dict[str, int], config: Config, progress: Progress) -> Row:
    """B2: the whole `selvsync plan` process at N=5000, 100 ms: interpreter start-up, imports,
    load, token, listing, diff, render; the API served by another process over loopback.
    Wall from spawn to exit; CPU and peak RSS are the child's own (``os.wait4``)."""
    latency = _latency(work)
    runs = max(3, config.runs - 2)
    progress(f"B2: N={work.n}: `selvsync plan` as a process, API in a second process")
    with remote_emulator(work) as remote:
        remote.set_latency(latency)
        stats, rss, counts, codes = plan_process(work, remote, runs)
    limit = 0.8
    minimum = plan_minimum(work.n)
    row = Row(
        "B2",
        f"`selvsync plan` process, N={work.n}, {int(latency * 1000)} ms",
        f"under {limit} s wall, start-up included",
        stats.wall < limit and counts[-1] == plan_counts and set(codes) == {0},
        counts[-1],
        minimum,
        stats,
        peak_mib=max(rss),
    )
    row.extra = {
        "peak_rss_mib_runs": [round(r, 1) for r in rss],
        "exit_codes": codes,
        "floor_s": round(2 * latency, 3),
        "floor_note": "token and listing round trips; loading overlaps them",
    }
    row.verdict = (
        f"{stats.wall:.2f} s wall (child CPU {stats.cpu:.2f} s), peak RSS {max(rss):.0f} MiB, "
        f"{row.total_requests} requests (minimum {minimum})"
    )
    return row


def _latency(work: Workload) -> float:
    return sum(f.seconds for f in work.emu.faults.active() if f.kind == "latency")


def _b5(
    work: Workload,
    offline: Stats,
    offline_run: Callable[[Phases], Plan],
    config: Config,
    progress: Progress,
) -> Row:
    limit = 0.4
    row = Row(
        "B5",
        f"load + validate + diff, N={work.n}, no network",
        f"under {limit} s CPU",
        offline.cpu < limit,
        stats=offline,
    )
    row.extra = {
        "load_s": round(offline.phase("load"), 4),
        "diff_s": round(offline.phase("diff"), 4),
    }
    row.verdict = f"load+validate {offline.phase('load'):.2f} s, diff {offline.phase('diff'):.2f} s"
    if not row.met and config.profile:
        progress("B5: missed: profiling")
        row.profile = profile_top(offline_run)
    return row


def scale_scenario(admin: AdminKey, config: Config, progress: Progress) -> list[Row]:
    """B5 at two sizes: load + validate + diff CPU must grow at most 4.5× for 4× the clients
    (nothing quadratic up to N = 20 000)."""
    small, large = config.scale_n
    cpu: dict[int, Stats] = {}
    for n in (small, large):
        progress(f"B5 scale: seeding N={n}")
        with workload(n, admin) as work:
            progress(f"B5 scale: N={n}: load + validate + diff")
            cpu[n], _ = counted(work, _offline(work, []), max(1, config.runs - 2))
    ratio = cpu[large].cpu / cpu[small].cpu if cpu[small].cpu else 0.0
    limit = 4.5 * large / small / 4
    row = Row(
        "B5",
        f"scaling: load + validate + diff, N={small} → {large}",
        f"CPU grows at most {limit:.1f}× (linear: {large / small:.0f}×)",
        ratio <= limit,
        stats=cpu[large],
    )
    row.extra = {
        "cpu_small_s": round(cpu[small].cpu, 4),
        "cpu_large_s": round(cpu[large].cpu, 4),
        "ratio": round(ratio, 2),
        "phases_small_s": cpu[small].as_dict()["phases_s"],
        "phases_large_s": cpu[large].as_dict()["phases_s"],
    }
    row.verdict = (
        f"CPU {cpu[small].cpu:.2f} s → {cpu[large].cpu:.2f} s: {ratio:.2f}× for "
        f"{large / small:.0f}× the clients"
    )
    return [row]
