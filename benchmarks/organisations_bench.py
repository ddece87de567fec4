"""B9: a no-change plan of O organisations x K clients through one supplier credential, against
the same workload as O separate single-organisation projects.

The claim (docs/organisations.md, docs/performance.md): organisations reached through one
credential share one token and one listing per environment, so the supplier's plan costs
1 grant + 1 listing whatever O is; O separate projects (one per customer, each with its own
admin client) cost O grants + O listings, run one after another. Both plans are of the same
live state (the supplier created every client with ``client_orgno`` = the customer, which the
customer's own token also lists). Requests are counted at the emulator (grants included: real
JWT grants at its ``POST /token``); wall time (loading included) is measured, never asserted.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.scenarios import Config, Row
from benchmarks.scopes_bench import consumers
from benchmarks.workload import BASE_URL, PREFIX, AdminKey, login_client, seed_body
from selvsync.api.auth import build_token_provider, scopes_for
from selvsync.api.client import DigdirClient
from selvsync.api.connect import ClientFactory
from selvsync.config import load_project
from selvsync.config.organisations import load_workspace
from selvsync.emulator import FULL_SCOPES, Emulator
from selvsync.live.organisations import WorkspaceRun, plan_workspace
from selvsync.live.planning import plan_project
from selvsync.live.session import Session
from selvsync.model import EnvironmentSettings, Project
from selvsync.yaml import dump

SUPPLIER = "991825827"
OWNER = "bench"
SEED_TOKEN = "bench-b9-seed"


def _admin_id(orgno: str) -> str:
    return f"admin-{orgno}"


def _factory_for(emu: Emulator, admin: AdminKey) -> Callable[[Project], ClientFactory]:
    """What connect.default_factory opens for `auth: {method: key}`: each project's own admin
    client, tokens from real JWT grants at the emulator, the scopes its command asks for
    (with idporten:dcr.supplier where the project is a supplier's)."""

    def for_project(project: Project, environ: Any = None) -> ClientFactory:
        def open_client(env: EnvironmentSettings, command: str) -> DigdirClient:
            auth = {**admin.auth(), "client_id": _admin_id(project.orgno)}
            tokens = build_token_provider(
                auth, project_dir=admin.path.parent, issuer=emu.issuer,
                token_endpoint=f"{BASE_URL}/token", environ={}, transport=emu.transport(),
            )
            supplier = env.name in project.supplier_environments
            return DigdirClient(
                BASE_URL, prefix=PREFIX, token_provider=tokens,
                scopes=scopes_for(auth, command, supplier=supplier),
                transport=emu.transport(), concurrency=env.concurrency,
            )

        return open_client

    return for_project


def _write(root: Path, orgs: list[str], per_org: int) -> None:
    templates = {f"app{i}": login_client(i) for i in range(per_org)}
    env = {"test": {"api": "emulator", "concurrency": 8}}
    # One supplier workspace: every organisation gets the K templates.
    ws = root / "supplier"
    (ws / "organisations").mkdir(parents=True)
    names = {f"k{i:03d}": orgno for i, orgno in enumerate(orgs)}
    (ws / "selvsync.yaml").write_text(dump({
        "orgno": SUPPLIER, "owner": OWNER, "supplier": True, "templates": list(templates),
        "environments": env,
        "organisations": {name: {"orgno": orgno} for name, orgno in names.items()},
    }))
    (ws / "shared.yaml").write_text(dump({"clients": templates}))
    for name in names:
        (ws / "organisations" / name).mkdir()
        (ws / "organisations" / name / "test.yaml").write_text("clients: {}\n")
    # O single-organisation projects declaring the same clients.
    for name, orgno in names.items():
        project = root / "separate" / name
        (project / "environments").mkdir(parents=True)
        (project / "selvsync.yaml").write_text(
            dump({"orgno": orgno, "owner": OWNER, "environments": env}))
        (project / "environments" / "test.yaml").write_text(dump({"clients": templates}))


def _seed(emu: Emulator, orgs: list[str], per_org: int) -> None:
    """What the supplier's first apply would have created, straight into the emulator."""
    with httpx.Client(transport=emu.transport(), base_url=BASE_URL,
                      headers={"Authorization": f"Bearer {SEED_TOKEN}"}) as http:
        for orgno in orgs:
            for i in range(per_org):
                body = seed_body(f"app{i}", login_client(i), OWNER) | {"client_orgno": orgno}
                http.post(f"{PREFIX}/clients", json=body).raise_for_status()


def organisations_scenario(
    admin: AdminKey, config: Config, progress: Callable[[str], None]
) -> list[Row]:
    count, per_org = config.organisations
    orgs = consumers(count + 1)
    orgs = [o for o in orgs if o != SUPPLIER][:count]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(root, orgs, per_org)
        emu = Emulator(":memory:", empty_list_status=None)
        emu.add_token(SEED_TOKEN, SUPPLIER, FULL_SCOPES)
        for orgno in (SUPPLIER, *orgs):
            emu.add_admin_client(_admin_id(orgno), orgno, jwks=[admin.jwk])
        progress(f"B9: seeding {count} organisations x {per_org} clients")
        _seed(emu, orgs, per_org)
        factory_for = _factory_for(emu, admin)
        rows: list[Row] = []
        for latency in (0, config.organisations_latency_ms):
            emu.faults.clear()
            if latency:
                emu.faults.add("latency", seconds=latency / 1000)

            emu.reset_counters()
            progress(f"B9: supplier workspace plan, latency {latency} ms")
            start = time.perf_counter()
            ws = load_workspace(root / "supplier")
            run = WorkspaceRun(ws, factory_for, "plan")
            try:
                result = plan_workspace(run)
            finally:
                run.close()
            wall = time.perf_counter() - start
            counts = {k: v for k, v in emu.counters().items() if v}
            empty = result.empty and not result.refusals()
            row = Row("B9", f"{count} orgs x {per_org} clients, one supplier credential, "
                      f"{latency} ms", "1 grant + 1 listing",
                      empty and sum(counts.values()) == 2, requests=counts, minimum=2)
            row.extra = {"wall_s": round(wall, 3), "latency_ms": latency, "plan_empty": empty,
                         "organisations": count, "clients": count * per_org}
            row.verdict = f"{sum(counts.values())} requests in {wall:.2f} s"
            rows.append(row)

            emu.reset_counters()
            progress(f"B9: {count} separate projects, latency {latency} ms")
            start = time.perf_counter()
            empty = True
            for name in sorted(p.name for p in (root / "separate").iterdir()):
                project = load_project(root / "separate" / name)
                with Session(project, factory_for(project), command="plan") as session:
                    plan = plan_project(session)
                empty = empty and plan.empty
            wall_separate = time.perf_counter() - start
            counts = {k: v for k, v in emu.counters().items() if v}
            row = Row("B9", f"{count} separate projects x {per_org} clients, {latency} ms",
                      f"{count} grants + {count} listings",
                      empty and sum(counts.values()) == 2 * count, requests=counts,
                      minimum=2 * count)
            row.extra = {"wall_s": round(wall_separate, 3), "latency_ms": latency,
                         "plan_empty": empty, "vs_supplier": round(wall_separate / wall, 1)}
            row.verdict = (f"{sum(counts.values())} requests in {wall_separate:.2f} s "
                           f"({wall_separate / wall:.1f}x the supplier's)")
            rows.append(row)
        return rows
