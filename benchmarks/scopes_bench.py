"""B8: a plan (and the apply that builds it) of P scopes with C consumers each.

The claim (docs/scopes.md, docs/performance.md): a plan of P scopes costs a fixed number of
listings (``GET /prefix`` and ``GET /scopes``; no consumer check without Maskinporten clients)
plus one ``GET /scopes/access`` per scope, read in parallel (bounded by ``concurrency``), so
2 + P requests whatever C is; the apply costs one POST per scope and one PUT per grant.
Requests are counted at the emulator; wall time is measured, never asserted.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.scenarios import Config, Row
from benchmarks.workload import AdminKey
from selvsync.api.auth import StaticTokenProvider
from selvsync.api.client import DigdirClient
from selvsync.apply.runner import apply_plan
from selvsync.config import load_project
from selvsync.emulator import FULL_SCOPES, Emulator
from selvsync.live.planning import plan_project
from selvsync.live.session import Session
from selvsync.model import EnvironmentSettings
from selvsync.rules.merchant import valid_orgno
from selvsync.sensitive.value import Secret
from selvsync.yaml import dump

ORGNO = "991825827"
TOKEN = "bench-scopes"


def consumers(count: int) -> list[str]:
    out: list[str] = []
    n = 910_000_000
    while len(out) < count:
        if valid_orgno(str(n)):
            out.append(str(n))
        n += 1
    return out


def _project(root: Path, scopes: int, per_scope: int) -> None:
    (root / "environments").mkdir(parents=True)
    (root / "selvsync.yaml").write_text(
        f'orgno: "{ORGNO}"\nowner: bench\nenvironments:\n  test:\n    api: emulator\n'
        "    concurrency: 8\n    scopes: {prefixes: [bench], max_revocations: 0}\n"
    )
    orgs = consumers(per_scope)
    declared = {
        f"bench:api{i:04d}.read": {"description": f"API {i}", "consumers": list(orgs)}
        for i in range(scopes)
    }
    (root / "environments" / "test.yaml").write_text(dump({"clients": {}, "scopes": declared}))


def _factory(emu: Emulator) -> Callable[[EnvironmentSettings, str], DigdirClient]:
    def open_client(env: EnvironmentSettings, command: str) -> DigdirClient:
        return DigdirClient(
            "http://emulator.invalid",
            prefix=env.prefix,
            token_provider=StaticTokenProvider(Secret(TOKEN)),
            scopes=sorted(FULL_SCOPES),
            transport=emu.transport(),
            concurrency=env.concurrency,
        )

    return open_client


def scope_scenario(admin: AdminKey, config: Config, progress: Callable[[str], None]) -> list[Row]:
    scopes, per_scope = config.scopes
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _project(root, scopes, per_scope)
        emu = Emulator(":memory:", empty_list_status=None)
        emu.add_token(TOKEN, ORGNO, FULL_SCOPES)
        factory = _factory(emu)
        emu.add_prefix(ORGNO, "bench")
        project = load_project(root)
        rows = []

        progress(f"B8: apply {scopes} scopes x {per_scope} consumers")
        start = time.perf_counter()
        with Session(project, factory, command="apply") as session:
            plan = plan_project(session)
            report = apply_plan(session, plan)
        apply_wall = time.perf_counter() - start
        apply_counts = emu.counters()
        expected_writes = scopes + scopes * per_scope
        writes = apply_counts.get("POST /scopes", 0) + apply_counts.get(
            "PUT /scopes/access/{consumer_orgno}", 0)
        row = Row("B8", f"apply {scopes} scopes x {per_scope} consumers from nothing",
                  "one write per scope and per grant", report.ok and writes == expected_writes,
                  requests=apply_counts, minimum=expected_writes + 2)
        row.extra = {"wall_s": round(apply_wall, 3), "writes": writes}
        row.verdict = f"{writes} writes in {apply_wall:.2f} s"
        rows.append(row)

        for latency in (0, config.scope_latency_ms):
            emu.faults.clear()
            if latency:
                emu.faults.add("latency", seconds=latency / 1000)
            emu.reset_counters()
            progress(f"B8: plan {scopes} scopes, latency {latency} ms")
            start = time.perf_counter()
            with Session(project, factory, command="plan") as session:
                plan = plan_project(session)
            wall = time.perf_counter() - start
            counts = {k: v for k, v in emu.counters().items() if v}
            scope_requests = sum(v for k, v in counts.items() if "scopes" in k or "prefix" in k)
            row = Row("B8", f"plan {scopes} scopes x {per_scope} consumers, {latency} ms",
                      f"2 + {scopes} scope requests", plan.empty and scope_requests == 2 + scopes,
                      requests=counts, minimum=2 + scopes + 1)
            row.extra = {"wall_s": round(wall, 3), "scope_requests": scope_requests,
                         "latency_ms": latency, "plan_empty": plan.empty}
            row.verdict = f"{scope_requests} scope requests in {wall:.2f} s"
            rows.append(row)
        return rows
