"""What the benchmark scenarios share: the run configuration, result rows, counted runs, and
C0 (a check of the method). The scenarios themselves: ``benchmarks.plan_bench`` (B1, B2, B5)
and ``benchmarks.apply_bench`` (B3, B4, B6); ``benchmarks.run`` prints them and writes the JSON.

Every scenario drives selvsync's real code paths: ``load_project``, ``Session`` +
``plan_project`` (the engine the CLI uses), ``apply_plan``, and for B6 the CLI itself over a
loopback socket. Requests are counted at the emulator (``emu.counters()``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from benchmarks.baselines import BaselineResult
from benchmarks.measure import Phases, Sample, Stats, timed
from benchmarks.workload import (
    PREFIX,
    AdminKey,
    Workload,
    workload,
)
from selvsync.live.planning import plan_project
from selvsync.live.session import Session
from selvsync.model import Project
from selvsync.plan.changes import Plan, PlanOptions


@dataclass(frozen=True)
class Config:
    """What to run and how hard. The defaults are the full run; ``make(quick=True)`` trims it
    to under a minute, and the smoke test shrinks it further (tiny N, one run)."""

    quick: bool = False
    sizes: tuple[int, ...] = (10, 100, 1000, 5000)
    latencies_ms: tuple[int, ...] = (0, 20, 100)
    runs: int = 5  # timed runs of selvsync's own operations (fewer where loading N >= 1000)
    baseline_runs: int = 3
    refresh_cap: int = 1000  # per-resource refresh: requests measured before extrapolating
    reconcile_budget: int = 100_000  # per-object reconcile: clients listed before extrapolating
    apply_n: int = 1000  # B3: managed clients
    apply_latency_ms: int = 100  # B3: one round trip
    apply_ks: tuple[int, ...] = (1, 10, 100)
    rate_limited: tuple[int, int, int, int] = (40, 10, 10, 10)  # B4: N, creates, updates, removals
    token_clients: int = 100  # B6: clients per environment
    b7_creates: int = 100  # B7: creates applied at apply_latency_ms
    b7_rates: tuple[int, ...] = (0, 5, 20)  # B7: rate limits in req/s (0: none)
    memory_max_n: int = 5000  # tracemalloc slows Python ~3x: --quick skips the big N
    scale_n: tuple[int, int] = (5000, 20000)  # B5 at both sizes: nothing quadratic
    startup_runs: int = 15  # S1: interleaved runs of each command
    scopes: tuple[int, int] = (500, 50)  # B8: scopes x consumers per scope
    scope_latency_ms: int = 20  # B8: one round trip for the plan at latency
    organisations: tuple[int, int] = (200, 10)  # B9: organisations x clients each
    organisations_latency_ms: int = 20  # B9: one round trip for the plans at latency
    # Profile a missed target (cProfile) and put the top entries in the results.
    profile: bool = True

    @classmethod
    def make(cls, quick: bool, profile: bool | None = None) -> Config:
        if not quick:
            return cls(profile=True if profile is None else profile)
        return cls(
            quick=True,
            latencies_ms=(0, 100),
            runs=3,
            baseline_runs=1,
            refresh_cap=200,
            reconcile_budget=10_000,
            token_clients=20,
            memory_max_n=100,
            scale_n=(1000, 4000),
            startup_runs=5,
            profile=bool(profile),
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

    def ratio(self, name: str) -> float | None:
        """How many times faster selvsync's plan phase is than a baseline."""
        mine = self.stats.phase("plan") if self.stats else 0
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


def counted(
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


def plan_phase(work: Workload, project: Project, phases: Phases) -> Plan:
    """What `selvsync plan` does once loaded (no --out: no fingerprints)."""
    options = PlanOptions(now=time.time(), fingerprints=False)
    with phases("plan"), Session(project, work.factory(), command="plan") as session:
        return plan_project(session, options=options)


def plan_minimum(n: int) -> int:
    """One token and one listing: the key sets are vouched for by the markers (j=)."""
    return 2


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

            stats, counts = counted(work, run, 3)
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
