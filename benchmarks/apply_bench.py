"""B3, B4 and B6: apply k changes, apply under a rate limit, and the token requests of a
whole CLI run over loopback."""

from __future__ import annotations

import contextlib
import io
import math
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from benchmarks.measure import Phases, Sample, Stats
from benchmarks.scenarios import Config, Progress, Row, counted, plan_minimum
from benchmarks.workload import (
    ADMIN_CLIENT,
    ENV,
    KEYED_CLIENTS,
    ORGNO,
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
from selvsync.apply.runner import apply_plan
from selvsync.cli import main
from selvsync.emulator import Emulator
from selvsync.emulator.server import serve
from selvsync.live.planning import plan_project
from selvsync.live.session import Session
from selvsync.marker import parse
from selvsync.model import Project
from selvsync.plan.changes import Plan
from selvsync.plan.results import ApplyReport
from selvsync.yaml import dump

# -- B3: apply k changes ------------------------------------------------------------------


def apply_scenarios(admin: AdminKey, config: Config, progress: Progress) -> list[Row]:
    n, latency = config.apply_n, config.apply_latency_ms / 1000
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
        plan, report, after = _plan_apply_recheck(project, work, phases)
        reports.append(report.ok and len(plan.changes) == k)
        leftovers.append(after.empty)

    runs = max(1, config.runs - 2)
    stats, counts = counted(work, run, runs, before=edit)
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

    def trips(seconds: float) -> float | None:
        return round(seconds / latency, 2) if latency else None  # no latency: no round trips

    row.extra = {
        "k": k,
        "concurrency": concurrency,
        "round_trips_expected": rtt,
        "apply_phase_s": round(apply_wall, 4),
        "apply_phase_limit_s": round(limit, 4),
        "apply_round_trips": trips(apply_wall),
        "whole_run_round_trips": trips(stats.wall),
        "applied_ok": all(reports),
        "converged": all(leftovers),
    }
    row.verdict = (
        f"apply phase {apply_wall:.2f} s = {trips(apply_wall)} RTT "
        f"(⌈k/c⌉ = {rtt}); whole run {stats.wall:.2f} s"
    )
    return row


# -- B4: rate limit -----------------------------------------------------------------------


def rate_limit_scenario(admin: AdminKey, config: Config, progress: Progress) -> list[Row]:
    """Creates, updates and deactivations against 5 requests/s (burst 5) on every path,
    answering 429 with Retry-After. Real time: the limiter refills by the clock."""
    n, creates, updates, removals = config.rate_limited
    writes = creates + updates + removals
    progress(f"B4: apply {writes} changes under a 5 req/s rate limit")
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
            plan, report, after = _plan_apply_recheck(project, work, phases)
            outcome.update(
                changes=len(plan.changes),
                failed=sum(1 for o in report.outcomes if o.status != "applied"),
                messages=[o.message for o in report.outcomes if o.message][:3],
                converged=after.empty,
            )

        stats, counts = counted(work, run, 1)
        refused = work.metered.statuses[429]
        answered = sum(v for k, v in work.metered.statuses.items() if k != 429)
        work.emu.faults.clear()
        markers = Counter(
            marker.key
            for c in work.live(inactive=False)
            if (marker := parse(c.get("description"))[1]) is not None
        )
    duplicates = sum(count - 1 for count in markers.values() if count > 1)
    # Answered: one token, the listing before and after, one per write; a success is never
    # sent again. A storm is a retry loop that is refused more often than it gets through.
    minimum = writes + 3
    storm = refused > answered
    row = Row(
        "B4",
        f"apply {writes} changes (N={n}) under 5 req/s, burst 5, 429 + Retry-After",
        "0 failures, 0 duplicates, no retry storm (429s ≤ answered requests)",
        outcome.get("failed") == 0
        and duplicates == 0
        and not storm
        and answered == minimum
        and outcome["converged"],
        counts[-1],
        minimum,
        stats,
    )
    row.extra = {
        **outcome,
        "duplicates": duplicates,
        "responses_429": refused,
        "responses_other": answered,
        "writes": writes,
        "requests_answered_minimum": minimum,
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
    n = config.token_clients
    progress(f"B6: CLI apply + plan, 2 environments x {n} clients, JWT grant")
    # Two non-production environments: production ones also want merchant data, which is
    # a manual portal step (no API at Digdir) and would keep the plan from being empty.
    emulators = {name: Emulator(":memory:") for name in ("test", "staging")}
    root = Path(tempfile.mkdtemp(prefix="selvsync-bench-b6-"))
    servers = {}
    try:
        environments = {}
        for name, emu in emulators.items():
            emu.add_admin_client(ADMIN_CLIENT, ORGNO, jwks=[admin.jwk])
            emu.add_token(SEED_TOKEN, ORGNO)
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
        clients = {client_key(i): login_client(i) for i in range(n)}
        for name in emulators:
            (root / "environments" / f"{name}.yaml").write_text(dump({"clients": clients}))
        results: dict[str, Any] = {}
        phases = Phases()
        started, cpu0 = time.perf_counter(), time.process_time()
        # A true first run: the listing is empty, which environments on a real API refuse
        # unless --force (a broken listing would otherwise duplicate every client).
        for command in (["apply", "--auto-approve", "--force"], ["plan", "--detailed-exitcode"]):
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
                "exit_code": int(code),
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
    # Per environment: apply = token, listing, n creates, post-apply listing; plan = token,
    # listing.
    minimum = len(emulators) * (n + 5)
    row = Row(
        "B6",
        f"CLI apply + plan, 2 environments x {n} clients, JWT grant, loopback",
        "exactly 1 POST /token per environment per command",
        ok and sum(requests.values()) == minimum,
        dict(sorted(requests.items())),
        minimum,
        stats,
    )
    row.extra = {
        "commands": {
            k: {key: v[key] for key in ("exit_code", "tokens", "stderr_tail")}
            for k, v in results.items()
        },
        "clients_created": owned,
    }
    row.verdict = "POST /token per environment: " + ", ".join(
        f"{cmd} {r['tokens']}" for cmd, r in results.items()
    )
    return [row]


def _plan_apply_recheck(
    project: Project, work: Workload, phases: Phases
) -> tuple[Plan, ApplyReport, Plan]:
    """What `selvsync apply` does, timed phase by phase: plan, apply, the check after."""
    with Session(project, work.factory(), command="apply") as session:
        with phases("plan"):
            plan = plan_project(session)
        with phases("apply"):
            report = apply_plan(session, plan)
        with phases("recheck"):
            after = plan_project(session)
    return plan, report, after
