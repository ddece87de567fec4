"""The two baselines selvsync's plan is compared with, run in the same process against the same
emulator, with the same client, auth and latency.

* **per-resource refresh** (Terraform's model): one ``GET /clients/{id}`` per client known
  from state, 10 in parallel (Terraform's default ``-parallelism``).
* **per-object reconcile** (digdirator's model): every object's reconcile lists all the
  organisation's clients to find its own, so N objects cost N full listings, here also 10 at a
  time (more generous than controller-runtime's default of one reconcile at a time).

Both count only their reads, not a diff, which flatters them: the ratios are conservative.
For big N a baseline is measured on its first ``cap`` requests and extrapolated linearly
(10 workers: ⌈n/10⌉ rounds of one latency each, and CPU per request constant, so wall is
linear in n); the results say when they were.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from benchmarks.measure import Phases, Stats, repeat
from benchmarks.workload import Workload

PARALLELISM = 10


@dataclass
class BaselineResult:
    name: str
    requests: dict[str, int]  # for the measured part
    measured: int  # objects actually refreshed or reconciled per run
    total: int  # objects a full run would cover (N)
    stats: Stats

    @property
    def scale(self) -> float:
        return self.total / self.measured if self.measured else 1.0

    @property
    def wall(self) -> float:
        """Wall of a full run: measured, or extrapolated linearly from ``measured``."""
        return self.stats.wall * self.scale

    @property
    def extrapolated(self) -> bool:
        return self.measured < self.total

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests_measured": self.requests,
            "objects_measured": self.measured,
            "objects_total": self.total,
            "extrapolated": self.extrapolated,
            "wall_s": round(self.wall, 4),
            "measured": self.stats.as_dict(),
        }


def _capped(total: int, cap: int) -> int:
    # A whole number of rounds, so the extrapolation multiplies complete rounds.
    if total <= cap:
        return total
    return max(PARALLELISM, (cap // PARALLELISM) * PARALLELISM)


def per_resource_refresh(work: Workload, runs: int, cap: int) -> BaselineResult:
    ids = sorted(work.ids.values())
    measured = _capped(len(ids), cap)
    chosen = ids[:measured]

    def run(_: Phases) -> None:
        with work.client("plan", PARALLELISM) as client, ThreadPoolExecutor(PARALLELISM) as pool:
            list(pool.map(client.get_client, chosen))

    return _baseline("per-resource refresh", work, run, runs, measured, len(ids))


def per_object_reconcile(work: Workload, runs: int, cap: int) -> BaselineResult:
    measured = _capped(work.n, cap)

    def run(_: Phases) -> None:
        with work.client("plan", PARALLELISM) as client, ThreadPoolExecutor(PARALLELISM) as pool:
            list(pool.map(lambda _: client.list_clients(), range(measured)))

    return _baseline("per-object reconcile", work, run, runs, measured, work.n)


def _baseline(
    name: str, work: Workload, run: Any, runs: int, measured: int, total: int
) -> BaselineResult:
    work.reset_counts()
    stats = repeat(run, runs, work.metered)
    requests = {k: math.ceil(v / runs) for k, v in work.emu.counters().items()}
    return BaselineResult(name, requests, measured, total, stats)
