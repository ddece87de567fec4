"""The benchmark scenarios B1-B6 (and C0, a check of the method). Each returns result rows;
``benchmarks.run`` prints them and writes the JSON.

Every scenario drives selvsync's real code paths: ``load_project``, ``Session`` +
``plan_project`` (the engine the CLI uses), ``apply_plan``, and for B6 the CLI itself over a
loopback socket. Requests are counted at the emulator (``emu.counters()``).
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.baselines import BaselineResult, per_object_reconcile, per_resource_refresh
from benchmarks.measure import Phases, Sample, Stats, peak_memory_mib, profile_top, timed
from benchmarks.workload import (
    BASE_URL,
    ENV,
    KEYED_CLIENTS,
    OWNER,
    PREFIX,
    SEED_TOKEN,
    AdminKey,
    Workload,
    client_key,
    login_client,
    project_yaml,
    workload,
)
from selvsync.apply import apply_plan
from selvsync.emulator import Emulator
from selvsync.emulator.server import serve
from selvsync.engine import Session, plan_project
from selvsync.marker import parse
from selvsync.model import Project
from selvsync.plan import LiveSnapshot, Plan
from selvsync.planner import build_environment_plan
from selvsync.render import render_text


@dataclass(frozen=True)
class Config:
    quick: bool
    sizes: tuple[int, ...]
    latencies_ms: tuple[int, ...]
    runs: int  # timed runs of selvsync's own operations
    baseline_runs: int
    refresh_cap: int  # per-resource refresh: requests measured before extrapolating
    reconcile_budget: int  # per-object reconcile: clients listed in total before extrapolating
    apply_ks: tuple[int, ...]
    memory_max_n: int  # tracemalloc slows Python ~3x: skip the biggest N in --quick
    profile: bool  # profile a missed target (cProfile) and put the top entries in the results

    @classmethod
    def make(cls, quick: bool, profile: bool | None = None) -> Config:
        if quick:
            return cls(
                True,
                (10, 100, 1000, 5000),
                (0, 100),
                3,
                1,
                200,
                10_000,
                (1, 10, 100),
                100,
                bool(profile),
            )
        return cls(
            False,
            (10, 100, 1000, 5000),
            (0, 20, 100),
            5,
            3,
            1000,
            200_000,
            (1, 10, 100),
            5000,
            True if profile is None else profile,
        )


@dataclass
class Row:
    id: str
    case: str
    target: str
    met: bool | None = None
    requests: dict[str, int] = field(default_factory=dict)
    minimum: int | None = None
    stats: Stats | None = None
    peak_mib: float | None = None
    baselines: list[BaselineResult] = field(default_factory=list)
    verdict: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    profile: list[str] = field(default_factory=list)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def ratio(self, name: str, against: float | None = None) -> float | None:
        """How many times faster selvsync's plan phase is than a baseline."""
        mine = against if against is not None else (self.stats.phase("plan") if self.stats else 0)
        for b in self.baselines:
            if b.name == name and mine > 0:
                return b.wall / mine
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case": self.case,
            "target": self.target,
            "met": self.met,
            "verdict": self.verdict,
            "requests": self.requests,
            "requests_total": self.total_requests,
            "requests_minimum": self.minimum,
            "timing": self.stats.as_dict() if self.stats else None,
            "peak_mib": round(self.peak_mib, 2) if self.peak_mib is not None else None,
            "baselines": [b.as_dict() for b in self.baselines],
            "ratios": {
                b.name: round(r, 2) for b in self.baselines if (r := self.ratio(b.name)) is not None
            },
            "extra": self.extra,
            "profile": self.profile,
        }


Progress = Callable[[str], None]


def _counted(
    work: Workload,
    run: Callable[[Phases], Any],
    runs: int,
    before: Callable[[], None] | None = None,
) -> tuple[Stats, list[dict[str, int]]]:
    """``runs`` timed runs, each with its own request counts (they must not vary)."""
    samples: list[Sample] = []
    counts: list[dict[str, int]] = []
    for _ in range(runs):
        if before is not None:
            before()
        work.reset_counts()
        sample, _ = timed(run, work.metered)
        samples.append(sample)
        counts.append(work.emu.counters())
    return Stats(samples), counts


def _plan_phase(work: Workload, project: Project, phases: Phases) -> Plan:
    with phases("plan"), Session(project, work.factory(), command="plan") as session:
        return plan_project(session)


def plan_minimum(n: int) -> int:
    """One token, one listing, and the key sets of the clients that declare keys."""
    return 2 + min(KEYED_CLIENTS, n)


# -- C0: is the method sound? --------------------------------------------------------------


def c0_parallel_latency(admin: AdminKey, progress: Progress) -> list[Row]:
    """In-process, the emulator answers in the calling thread, so latency sleeps of parallel
    requests should overlap. 20 requests on 10 threads at 100 ms: 2 rounds, ~0.2 s if they do,
    ~2 s if they were serialised."""
    progress("C0: in-process latency under concurrency")
    with workload(10, admin) as work:
        work.set_latency(0.1)
        with work.raw() as http:

            def run(_: Phases) -> None:
                with ThreadPoolExecutor(10) as pool:
                    list(pool.map(lambda _: http.get(f"{PREFIX}/clients/none"), range(20)))

            stats, counts = _counted(work, run, 3)
    parallel = stats.wall < 0.5
    return [
        Row(
            "C0",
            "20 requests, 10 threads, 100 ms, in-process",
            "latency sleeps overlap across threads (2 rounds, not 20)",
            parallel,
            counts[-1],
            20,
            stats,
            verdict=f"{stats.wall:.2f} s = {stats.wall / 0.1:.1f} round trips",
        )
    ]


# -- B1 / B2 / B5: plan -------------------------------------------------------------------


def _offline(work: Workload, loaded: list[Project]) -> Callable[[Phases], Plan]:
    """Load + validate + diff, no network: the live snapshot is read once, beforehand.
    Each run appends the project it loaded to ``loaded`` (so nobody loads it again)."""
    # Served key sets carry `exp`: read them as the plan would see them.
    with work.raw() as http:
        jwks = {
            cid: http.get(f"{PREFIX}/clients/{cid}/jwks").json()["keys"]
            for cid in (work.ids[key] for key in work.jwks)
        }
    snapshot = LiveSnapshot(work.live(), jwks)

    def run(phases: Phases) -> Plan:
        with phases("load"):
            project = work.load()
        with phases("diff"):
            env = build_environment_plan(project.states[ENV], project.owner, snapshot)
        loaded[:] = [project]
        return Plan(project.orgno, project.owner, [env])

    return run


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
    offline, _ = _counted(work, offline_run, runs)
    (project,) = loaded
    peak = None
    if n <= config.memory_max_n:
        progress(f"B1: N={n}: peak memory")

        def traced(phases: Phases) -> None:
            loaded = work.load()
            _plan_phase(work, loaded, phases)

        peak = peak_memory_mib(traced)
    for latency_ms in config.latencies_ms:
        progress(f"B1: N={n}, {latency_ms} ms: plan")
        work.set_latency(latency_ms / 1000)
        plans: list[Plan] = []

        def run(phases: Phases) -> None:
            plans.append(_plan_phase(work, project, phases))  # noqa: B023 - used at once

        stats, counts = _counted(work, run, runs)
        empty = all(p.empty for p in plans)
        progress(f"B1: N={n}, {latency_ms} ms: baselines")
        refresh = per_resource_refresh(work, config.baseline_runs, config.refresh_cap)
        reconcile_cap = max(10, config.reconcile_budget // n)
        reconcile = per_object_reconcile(work, config.baseline_runs, reconcile_cap)
        minimum = plan_minimum(n)
        steady = all(c == counts[0] for c in counts)
        row = Row(
            "B1",
            f"N={n}, {latency_ms} ms",
            "requests = minimum (token + 1 list + declared key sets) for every N",
            None,
            counts[-1],
            minimum,
            stats,
            peak,
            [refresh, reconcile],
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
            ratio = row.ratio("per-resource refresh") or 0.0
            row.target += "; ≥ 20× faster than per-resource refresh"
            row.extra["refresh_ratio_target"] = 20
            ok = ok and ratio >= 20
        row.met = ok
        row.verdict = f"{row.total_requests} requests (minimum {minimum})" + (
            "" if empty else "; PLAN NOT EMPTY"
        )
        rows.append(row)
        if n == max(config.sizes) and latency_ms == max(config.latencies_ms):
            rows.append(_b2(work, project, offline, stats, counts[-1], config, progress))
    work.set_latency(0)
    if n == max(config.sizes):
        rows.append(_b5(work, offline, offline_run, config, progress))
    return rows


def _b2(
    work: Workload,
    project: Project,
    offline: Stats,
    plan_stats: Stats,
    plan_counts: dict[str, int],
    config: Config,
    progress: Progress,
) -> Row:
    """B2: `selvsync plan` end to end at N=5000, 100 ms: load, read, diff, render.

    --quick composes it from the parts B1 and B5 just measured (the load alone takes seconds):
    load (B5) + live read and diff (B1); the full run measures it in one piece."""

    def run(phases: Phases) -> str:
        with phases("load"):
            loaded = work.load()
        plan = _plan_phase(work, loaded, phases)
        with phases("render"):
            return render_text(plan, color=False)

    runs = max(1, config.runs - 2)
    if config.quick:
        load, plan = offline.phase("load"), plan_stats.phase("plan")
        # The diff runs in both parts: count its CPU once (it is single-threaded Python).
        cpu = offline.cpu + plan_stats.cpu - offline.phase("diff")
        composed = Sample(load + plan, cpu, cpu, {"load": load, "plan": plan})
        stats, counts = Stats([composed]), [plan_counts]
    else:
        progress(f"B2: N={work.n}: end-to-end plan")
        stats, counts = _counted(work, run, runs)
    loopback = _loopback_plan(work, project, runs, progress)
    limit = 1.5
    row = Row(
        "B2",
        f"plan end to end, N={work.n}, {int(_latency(work) * 1000)} ms",
        f"under {limit} s wall",
        stats.wall < limit,
        counts[-1],
        plan_minimum(work.n),
        stats,
    )
    row.extra = {
        "load_s": round(stats.phase("load"), 4),
        "plan_phase_s": round(stats.phase("plan"), 4),
        "render_s": round(stats.phase("render"), 4),
        "composed_from_b1_b5": config.quick,
        "plan_phase_loopback_s": round(loopback.phase("plan"), 4),
        "plan_phase_loopback_cpu_total_s": round(loopback.cpu_total, 4),
    }
    row.verdict = (
        f"load {stats.phase('load'):.2f} s + live read and diff {stats.phase('plan'):.2f} s "
        f"(loopback socket: {loopback.phase('plan'):.2f} s) + render {stats.phase('render'):.2f} s"
    )
    if not row.met and config.profile:
        progress("B2: missed: profiling")
        row.profile = profile_top(run)
    return row


def _latency(work: Workload) -> float:
    return sum(f.seconds for f in work.emu.faults.active() if f.kind == "latency")


def _loopback_plan(work: Workload, project: Project, runs: int, progress: Progress) -> Stats:
    """The same plan phase over a real loopback socket (wsgiref, a thread per connection): a
    cross-check that the in-process transport does not flatter the numbers."""
    progress("B2: plan phase over a loopback socket")
    with serve(work.emu) as server:

        def run(phases: Phases) -> None:
            factory = work.factory(base_url=server.url)
            with phases("plan"), Session(project, factory, command="plan") as session:
                plan_project(session)

        return Stats([timed(run)[0] for _ in range(runs)])


def _b5(
    work: Workload,
    offline: Stats,
    offline_run: Callable[[Phases], Plan],
    config: Config,
    progress: Progress,
) -> Row:
    limit = 1.0
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


# -- B3: apply k changes ------------------------------------------------------------------


def apply_scenarios(admin: AdminKey, config: Config, progress: Progress) -> list[Row]:
    n, latency = 1000, 0.1
    rows = []
    progress(f"B3: seeding N={n}")
    with workload(n, admin) as work:
        project = work.load()
        concurrency = project.environments[ENV].concurrency
        work.set_latency(latency)
        for k in config.apply_ks:
            progress(f"B3: apply k={k}")
            rows.append(_b3(work, project, k, latency, concurrency, config))
    return rows


def _b3(
    work: Workload, project: Project, k: int, latency: float, concurrency: int, config: Config
) -> Row:
    # The k clients to change: login clients (not the keyed ones), renamed each run. Editing
    # the loaded desired state stands in for editing the YAML: loading is B5's business.
    keys = [client_key(i) for i in range(KEYED_CLIENTS, KEYED_CLIENTS + k)]
    state = project.states[ENV]
    rounds = {"n": 0}
    reports: list[bool] = []
    leftovers: list[bool] = []

    def edit() -> None:
        rounds["n"] += 1
        for key in keys:
            # k in the name too: every run of every k must really change each client.
            state.clients[key].fields["client_name"] = f"Renamed {key} k{k} r{rounds['n']}"

    def run(phases: Phases) -> None:
        with Session(project, work.factory(), command="apply") as session:
            with phases("plan"):
                plan = plan_project(session)
            with phases("apply"):
                report = apply_plan(session, plan)
            with phases("recheck"):
                after = plan_project(session)
        reports.append(report.ok and len(plan.changes) == k)
        leftovers.append(after.empty)

    runs = max(1, config.runs - 2)
    stats, counts = _counted(work, run, runs, before=edit)
    rtt = math.ceil(k / concurrency)
    limit = 2 * rtt * latency
    minimum = 2 * plan_minimum(work.n) - 1 + k  # one token; plan and re-check; k writes
    row = Row(
        "B3",
        f"apply k={k}, N={work.n}, {int(latency * 1000)} ms, concurrency {concurrency}",
        f"requests = minimum + k writes + re-check; apply phase ≤ 2 × ⌈k/c⌉ = {2 * rtt} "
        "round trips",
        None,
        counts[-1],
        minimum,
        stats,
    )
    apply_wall = stats.phase("apply")
    row.met = (
        all(reports) and all(leftovers) and row.total_requests == minimum and apply_wall <= limit
    )
    row.extra = {
        "k": k,
        "concurrency": concurrency,
        "round_trips_expected": rtt,
        "apply_phase_s": round(apply_wall, 4),
        "apply_phase_limit_s": round(limit, 4),
        "apply_round_trips": round(apply_wall / latency, 2),
        "whole_run_round_trips": round(stats.wall / latency, 2),
        "applied_ok": all(reports),
        "converged": all(leftovers),
    }
    row.verdict = (
        f"apply phase {apply_wall:.2f} s = {apply_wall / latency:.1f} RTT "
        f"(⌈k/c⌉ = {rtt}); whole run {stats.wall:.2f} s"
    )
    return row


# -- B4: rate limit -----------------------------------------------------------------------


def rate_limit_scenario(admin: AdminKey, config: Config, progress: Progress) -> list[Row]:
    """10 creates, 10 updates and 10 deactivations against 5 requests/s (burst 5) on every
    path, answering 429 with Retry-After. Real time: the limiter refills by the clock."""
    n, creates, updates, removals = 40, 10, 10, 10
    progress("B4: apply under a 5 req/s rate limit")
    with workload(n, admin, keyed=0) as work:
        declared = dict(work.declared)
        for i in range(n - removals, n):
            declared.pop(client_key(i))
        for i in range(updates):
            declared[client_key(i)] = {**declared[client_key(i)], "client_name": f"Updated {i}"}
        for i in range(n, n + creates):
            declared[client_key(i)] = login_client(i)
        work.write(declared)
        project = work.load()
        work.set_latency(0.02)
        work.emu.faults.add("rate_limit", rate=5, burst=5)
        outcome: dict[str, Any] = {}

        def run(phases: Phases) -> None:
            with Session(project, work.factory(), command="apply") as session:
                with phases("plan"):
                    plan = plan_project(session)
                with phases("apply"):
                    report = apply_plan(session, plan)
                with phases("recheck"):
                    after = plan_project(session)
            outcome.update(
                changes=len(plan.changes),
                failed=sum(1 for o in report.outcomes if o.status != "applied"),
                messages=[o.message for o in report.outcomes if o.message][:3],
                converged=after.empty,
            )

        stats, counts = _counted(work, run, 1)
        refused = work.metered.statuses[429]
        work.emu.faults.clear()
        markers = Counter(
            marker.key
            for c in work.live(inactive=False)
            if (marker := parse(c.get("description"))[1]) is not None
        )
    duplicates = sum(count - 1 for count in markers.values() if count > 1)
    writes = creates + updates + removals
    answered = sum(v for k, v in work.metered.statuses.items() if k != 429)
    # A storm is a retry loop that spends more requests being refused than doing work.
    storm = refused > answered
    row = Row(
        "B4",
        f"apply {writes} changes (N={n}) under 5 req/s, burst 5, 429 + Retry-After",
        "0 failures, 0 duplicates, no retry storm (429s ≤ answered requests)",
        outcome.get("failed") == 0 and duplicates == 0 and not storm and outcome["converged"],
        counts[-1],
        None,
        stats,
    )
    row.extra = {
        **outcome,
        "duplicates": duplicates,
        "responses_429": refused,
        "responses_other": answered,
        "writes": writes,
    }
    row.verdict = (
        f"{outcome.get('failed')} failed, {duplicates} duplicates, {refused} × 429 for "
        f"{answered} answered requests; {stats.wall:.1f} s"
    )
    return [row]


# -- B6: tokens over a whole run ----------------------------------------------------------


def token_scenario(admin: AdminKey, config: Config, progress: Progress) -> list[Row]:
    """`selvsync apply` then `selvsync plan` through the CLI, two environments, each on its own
    emulator over a loopback socket, with a Maskinporten JWT grant: the real default_factory,
    no test hooks. Counts POST /token per environment and command."""
    import shutil
    import tempfile
    from pathlib import Path

    from selvsync.cli import main

    n = 20 if config.quick else 100
    progress(f"B6: CLI apply + plan, 2 environments x {n} clients, JWT grant")
    # Two non-production environments: production ones also want merchant data, which is
    # a manual portal step (no API at Digdir) and would keep the plan from being empty.
    emulators = {name: Emulator(":memory:") for name in ("test", "staging")}
    root = Path(tempfile.mkdtemp(prefix="selvsync-bench-b6-"))
    servers = {}
    try:
        environments = {}
        for name, emu in emulators.items():
            emu.add_admin_client("bench-admin", "991825827", jwks=[admin.jwk])
            emu.add_token(SEED_TOKEN, "991825827")
            emu.faults.add("latency", seconds=0.02)
            servers[name] = serve(emu)
            url = servers[name].url
            environments[name] = {
                "api": url,
                "issuer": emu.issuer,
                "token_endpoint": f"{url}/token",
                "auth": admin.auth(),
                "merchant_api": False,
            }
        (root / "selvsync.yaml").write_text(project_yaml(environments))
        (root / "environments").mkdir()
        from selvsync.yaml import dump

        clients = {client_key(i): login_client(i) for i in range(n)}
        for name in emulators:
            (root / "environments" / f"{name}.yaml").write_text(dump({"clients": clients}))
        results: dict[str, Any] = {}
        phases = Phases()
        started, cpu0 = time.perf_counter(), time.process_time()
        for command in (["apply", "--auto-approve"], ["plan", "--detailed-exitcode"]):
            for emu in emulators.values():
                emu.reset_counters()
            out, err = io.StringIO(), io.StringIO()
            with (
                phases(command[0]),
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
            ):
                code = main([*command, "-C", str(root)])
            results[command[0]] = {
                "exit_code": code,
                "stderr_tail": err.getvalue()[-600:] if code else "",
                "tokens": {
                    name: emu.counters().get("POST /token", 0) for name, emu in emulators.items()
                },
                "requests": {name: emu.counters() for name, emu in emulators.items()},
            }
        # The emulators run in this process (server threads): CPU here is selvsync's plus theirs.
        cpu = time.process_time() - cpu0
        stats = Stats([Sample(time.perf_counter() - started, cpu, cpu, phases.times)])
        with httpx.Client(
            base_url=servers["test"].url, headers={"Authorization": f"Bearer {SEED_TOKEN}"}
        ) as http:
            live = http.get(f"{PREFIX}/clients").json()
        owned = sum(1 for c in live if (m := parse(c.get("description"))[1]) and m.owner == OWNER)
    finally:
        for server in servers.values():
            server.shutdown()
        for emu in emulators.values():
            emu.close()
        shutil.rmtree(root, ignore_errors=True)
    token_counts = [t for r in results.values() for t in r["tokens"].values()]
    ok = (
        all(t == 1 for t in token_counts)
        and results["apply"]["exit_code"] == 0
        and results["plan"]["exit_code"] == 0
        and owned == n
    )
    requests: Counter[str] = Counter()
    for r in results.values():
        for counts in r["requests"].values():
            requests.update(counts)
    row = Row(
        "B6",
        f"CLI apply + plan, 2 environments x {n} clients, JWT grant, loopback",
        "exactly 1 POST /token per environment per command",
        ok,
        dict(sorted(requests.items())),
        None,
        stats,
    )
    row.extra = {
        "commands": {
            k: {"exit_code": v["exit_code"], "tokens": v["tokens"]} for k, v in results.items()
        },
        "clients_created": owned,
    }
    row.verdict = "POST /token per environment: " + ", ".join(
        f"{cmd} {r['tokens']}" for cmd, r in results.items()
    )
    return [row]


__all__ = [
    "BASE_URL",
    "Config",
    "Row",
    "apply_scenarios",
    "c0_parallel_latency",
    "plan_scenarios",
    "rate_limit_scenario",
    "token_scenario",
]
