"""Run the benchmarks: `python -m benchmarks [--quick] [--only B1,B3] [--profile]`.

Prints a table and writes every number (all runs, phases, baselines, profiles of missed
targets) to benchmarks/results/latest.json. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    # `python benchmarks/run.py`: make the repository root importable, as `-m` would.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.apply_bench import apply_scenarios, rate_limit_scenario, token_scenario
from benchmarks.baselines import DIGDIRATOR, SCRIPT, TF10, TF32
from benchmarks.organisations_bench import organisations_scenario
from benchmarks.plan_bench import plan_scenarios, scale_scenario
from benchmarks.rate_bench import rate_scenarios
from benchmarks.scenarios import Config, Row, c0_parallel_latency
from benchmarks.scopes_bench import scope_scenario
from benchmarks.startup_bench import startup_scenario
from benchmarks.workload import AdminKey, admin_key

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"

Scenario = Callable[[AdminKey, Config, Callable[[str], None]], list[Row]]
SCENARIOS: dict[str, Scenario] = {
    "C0": lambda admin, config, progress: c0_parallel_latency(admin, progress),
    "S1": startup_scenario,  # start-up: --version and validate against python -c pass
    "B1": plan_scenarios,  # also yields B2 and B5 (they reuse the N=5000 workload)
    "B5S": scale_scenario,  # B5 at N=5000 and N=20000: nothing quadratic
    "B3": apply_scenarios,
    "B4": rate_limit_scenario,
    "B6": token_scenario,
    "B7": rate_scenarios,
    "B8": scope_scenario,  # scopes x consumers: apply from nothing, then plan
    "B9": organisations_scenario,  # one supplier credential vs one project per organisation
}


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _fmt_ratio(row: Row, name: str) -> str:
    base = next((b for b in row.baselines if b.name == name), None)
    ratio = row.ratio(name)
    if base is None or ratio is None:
        return "-"
    mark = "~" if base.extrapolated else ""
    return f"{mark}{_fmt_s(base.wall)} ({ratio:.1f}×)"


def table(rows: Sequence[Row]) -> str:
    head = (
        "id",
        "case",
        "requests (min)",
        "wall",
        "CPU",
        "peak",
        "TF p10",
        "TF p32",
        "digdirator",
        "1 listing",
        "met",
    )
    lines = [head]
    for row in rows:
        stats = row.stats
        wall = stats.phase("plan") if row.id == "B1" and stats else (stats.wall if stats else None)
        lines.append(
            (
                row.id,
                row.case,
                f"{row.total_requests}" + (f" ({row.minimum})" if row.minimum is not None else ""),
                _fmt_s(wall),
                _fmt_s(stats.cpu if stats else None),
                f"{row.peak_mib:.1f} MiB" if row.peak_mib is not None else "-",
                _fmt_ratio(row, TF10),
                _fmt_ratio(row, TF32),
                _fmt_ratio(row, DIGDIRATOR),
                _fmt_ratio(row, SCRIPT),
                {True: "yes", False: "NO", None: "-"}[row.met],
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(line)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs and latencies (< 60 s)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated: " + ",".join(SCENARIOS) + " (B1 also runs B2 and B5)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        default=None,
        help="profile missed targets (always on without --quick)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    config = Config.make(args.quick, args.profile)
    chosen = [s.strip().upper() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    rows: list[Row] = []

    def save() -> None:
        # After every scenario: a crash later in a long run keeps what was measured.
        document = {
            "generated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "mode": "quick" if config.quick else "full",
            "duration_s": round(time.perf_counter() - started, 1),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            },
            "config": dict(vars(config)),
            "rows": [r.as_dict() for r in rows],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    with admin_key() as admin:
        for name in chosen:
            try:
                rows.extend(SCENARIOS[name](admin, config, progress))
            except Exception as exc:  # one broken scenario must not cost the others' numbers
                progress(f"{name}: crashed: {type(exc).__name__}: {exc}")
                rows.append(
                    Row(name, "crashed", "-", False, verdict=f"{type(exc).__name__}: {exc}")
                )
            save()
    duration = time.perf_counter() - started
    print(table(rows))
    for row in rows:
        print(f"{row.id} {row.case}: {row.verdict}")
        for line in row.profile:
            print(f"    {line}")
    missed = [r for r in rows if r.met is False]
    print(
        f"\n{len(rows) - len(missed)} of {len(rows)} rows met their target; "
        f"{'quick' if config.quick else 'full'} run took {duration:.0f} s"
    )
    print(f"results: {args.out}")
    return 1 if any(r.case == "crashed" for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
