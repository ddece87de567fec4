"""Measuring: wall and CPU medians over several runs, peak memory, request counts, profiles.

Wall time is ``perf_counter``. CPU is ``process_time`` (every thread of the process) minus the
CPU the in-process emulator spent answering (``MeteredTransport.emulator_cpu``), so it is
selvsync's own work. Peak memory is ``tracemalloc``'s peak during one extra, untimed run
(tracing slows Python down, so it never overlaps a timed run); with an in-process emulator it
includes the emulator's response bodies, which is noted where it matters.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from benchmarks.workload import MeteredTransport

T = TypeVar("T")


@dataclass
class Sample:
    """One timed run."""

    wall: float
    cpu: float  # selvsync's own CPU: process CPU minus the in-process emulator's
    cpu_total: float
    phases: dict[str, float] = field(default_factory=dict)  # wall per named phase


@dataclass
class Stats:
    """Medians over runs, with every run kept for the JSON."""

    samples: list[Sample]

    @property
    def wall(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    @property
    def cpu_total(self) -> float:
        return statistics.median(s.cpu_total for s in self.samples)

    def phase(self, name: str) -> float:
        return statistics.median(s.phases.get(name, 0.0) for s in self.samples)

    def as_dict(self) -> dict[str, Any]:
        names = sorted({n for s in self.samples for n in s.phases})
        return {
            "runs": len(self.samples),
            "wall_s": round(self.wall, 4),
            "cpu_s": round(self.cpu, 4),
            "cpu_total_s": round(self.cpu_total, 4),
            "phases_s": {n: round(self.phase(n), 4) for n in names},
            "wall_runs_s": [round(s.wall, 4) for s in self.samples],
        }


class Phases:
    """Named wall-clock phases inside one run: ``with phases("plan"): ...``."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._name = ""
        self._started = 0.0

    def __call__(self, name: str) -> Phases:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self._started
        self.times[self._name] = self.times.get(self._name, 0.0) + elapsed


def timed(run: Callable[[Phases], T], metered: MeteredTransport | None = None) -> tuple[Sample, T]:
    phases = Phases()
    before_emulator = metered.emulator_cpu if metered is not None else 0.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = run(phases)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    emulator = (metered.emulator_cpu - before_emulator) if metered is not None else 0.0
    return Sample(wall, max(0.0, cpu - emulator), cpu, phases.times), result


def repeat(
    run: Callable[[Phases], Any],
    runs: int,
    metered: MeteredTransport | None = None,
    before: Callable[[], None] | None = None,
) -> Stats:
    """``runs`` timed runs; ``before`` prepares each one, outside the timing."""
    samples = []
    for _ in range(runs):
        if before is not None:
            before()
        sample, _ = timed(run, metered)
        samples.append(sample)
    return Stats(samples)


def peak_memory_mib(run: Callable[[Phases], Any]) -> float:
    """Peak traced memory of one run, in MiB (allocations made during the run)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        run(Phases())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / (1024 * 1024)


def profile_top(run: Callable[[Phases], Any], limit: int = 10) -> list[str]:
    """cProfile of one run: where the time goes, as lines for the report.

    Two views: selvsync's own functions by cumulative time (which step is slow), and every
    function by self time (what inside it burns the CPU). Under the profiler everything is
    ~2-3x slower; the shares are what matter.
    """
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        run(Phases())
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = [
        (cumtime, tottime, calls, f"{_short(filename)}:{line}({name})")
        for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items()  # type: ignore[attr-defined]
    ]
    total = max((r[0] for r in rows), default=0.0) or 1.0

    def line(row: tuple[float, float, int, str]) -> str:
        cumtime, tottime, calls, where = row
        return (
            f"{100 * cumtime / total:5.1f}% cum {100 * tottime / total:5.1f}% self "
            f"{calls:>8} calls  {where}"
        )

    own = [r for r in rows if r[3].startswith("selvsync/")]
    out = ["selvsync functions by cumulative time:"]
    out += [line(r) for r in sorted(own, reverse=True)[:limit]]
    out.append("all functions by self time:")
    out += [line(r) for r in sorted(rows, key=lambda r: r[1], reverse=True)[:limit]]
    return out


def _short(filename: str) -> str:
    for marker in ("site-packages/", "selvsync/", "lib/python3"):
        index = filename.find(marker)
        if index >= 0:
            return filename[index:]
    return filename
