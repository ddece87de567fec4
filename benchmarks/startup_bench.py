"""S1: start-up. `selvsync --version` and `selvsync validate -C examples/quickstart` as
processes, interleaved with `python -c pass` so that load on the machine hits all three alike.
Target for each: median wall under 2 × `python -c pass` + 100 ms."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from benchmarks.measure import Sample, Stats
from benchmarks.remote import run_child, selvsync_command
from benchmarks.scenarios import Config, Progress, Row
from benchmarks.workload import AdminKey

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart"


def startup_scenario(admin: AdminKey, config: Config, progress: Progress) -> list[Row]:
    progress("S1: start-up: python -c pass, selvsync --version, selvsync validate")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "selvsync --version": [*selvsync_command(), "--version"],
        "selvsync validate -C examples/quickstart": [
            *selvsync_command(),
            "validate",
            "-C",
            str(QUICKSTART),
        ],
    }
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    codes: dict[str, set[int]] = {name: set() for name in commands}
    for command in commands.values():
        run_child(command)  # .pyc files and page cache warm; not counted
    for _ in range(config.startup_runs):
        for name, command in commands.items():
            sample, _, code = run_child(command)
            samples[name].append(sample)
            codes[name].add(code)
    base = Stats(samples["python -c pass"])
    limit = 2 * base.wall + 0.1
    rows = []
    for name in list(commands)[1:]:
        stats = Stats(samples[name])
        row = Row(
            "S1",
            name,
            f"median wall ≤ 2 × python -c pass + 100 ms = {limit * 1000:.0f} ms",
            stats.wall <= limit and codes[name] == {0},
            stats=stats,
        )
        walls = [s.wall for s in samples[name]]
        row.extra = {
            "python_pass_wall_s": round(base.wall, 4),
            "python_pass_cpu_s": round(base.cpu, 4),
            "limit_s": round(limit, 4),
            "min_wall_s": round(min(walls), 4),
            "cpu_limit_equivalent_s": round(2 * base.cpu + 0.1, 4),
            "exit_codes": sorted(codes[name]),
        }
        row.verdict = (
            f"median {stats.wall * 1000:.0f} ms (min {min(walls) * 1000:.0f} ms, CPU "
            f"{stats.cpu * 1000:.0f} ms) against python -c pass {base.wall * 1000:.0f} ms "
            f"(CPU {base.cpu * 1000:.0f} ms): limit {limit * 1000:.0f} ms; "
            f"spread {statistics.pstdev(walls) * 1000:.0f} ms"
        )
        rows.append(row)
    return rows
