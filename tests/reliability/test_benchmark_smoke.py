"""The benchmark code paths at tiny N, so they cannot rot between benchmark runs. Asserts the
request counts each scenario must produce (the minimums the benchmarks check at scale), never
timings: speed is what `python -m benchmarks` measures."""

from __future__ import annotations

import dataclasses
import json

from benchmarks.apply_bench import apply_scenarios, rate_limit_scenario, token_scenario
from benchmarks.plan_bench import plan_scenarios, scale_scenario
from benchmarks.rate_bench import rate_scenarios
from benchmarks.run import table
from benchmarks.scenarios import Config, Row, c0_parallel_latency
from benchmarks.startup_bench import startup_scenario
from benchmarks.workload import AdminKey

TINY = Config(
    quick=True,
    sizes=(3,),
    latencies_ms=(0,),
    runs=1,
    baseline_runs=1,
    refresh_cap=10,
    reconcile_budget=30,
    apply_n=4,
    apply_latency_ms=0,
    apply_ks=(1, 2),
    rate_limited=(4, 1, 1, 1),
    token_clients=2,
    b7_creates=3,
    b7_rates=(0, 50),
    memory_max_n=3,
    scale_n=(3, 12),
    startup_runs=1,
    profile=False,
)
PLAN = {"POST /token": 1, "GET /clients": 1}  # the markers vouch for both key sets


def _by_id(rows: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for row in rows:
        out.setdefault(row.id, []).append(row)
    return out


def test_every_scenario_runs_at_tiny_n_with_the_expected_requests(admin: AdminKey) -> None:
    rows: list[Row] = []
    scenarios = (plan_scenarios, apply_scenarios, rate_limit_scenario, token_scenario,
                 rate_scenarios, scale_scenario, startup_scenario)
    for scenario in scenarios:
        rows += scenario(admin, TINY, lambda _: None)
    rows += c0_parallel_latency(admin, lambda _: None)
    found = _by_id(rows)

    # B1: one token and one listing: the markers vouch for the two declared key sets.
    (b1,) = found["B1"]
    assert b1.requests == PLAN and b1.minimum == 2 and b1.extra["plan_empty"]
    tf10, tf32, digdirator, script = b1.baselines
    assert tf10.requests == tf32.requests == {"POST /token": 1, "GET /clients/{id}": 3}
    # digdirator: a token and a listing per reconcile, one reconcile at a time.
    assert digdirator.requests == {"POST /token": 3, "GET /clients": 3}
    assert not digdirator.extrapolated and not tf10.extrapolated
    assert script.requests == {"POST /token": 1, "GET /clients": 1}
    assert b1.peak_mib is not None
    (b2,) = found["B2"]
    assert b2.requests == PLAN and b2.extra["exit_codes"] == [0, 0, 0]
    assert b2.peak_mib is not None and b2.peak_mib > 0  # the child's own peak RSS
    b5 = found["B5"][0]
    assert b5.requests == {}  # offline: no request at all

    # B3: one token for plan, apply and the re-check; k PUTs and nothing else written.
    for row, k in zip(found["B3"], TINY.apply_ks, strict=True):
        assert row.requests == {
            **PLAN,
            "GET /clients": 2,
            "PUT /clients/{id}": k,
        }
        assert row.minimum == row.total_requests and row.extra["converged"]

    # B4: every change applied once, nothing duplicated; refusals are counted, not timed.
    (b4,) = found["B4"]
    assert b4.extra["failed"] == 0 and b4.extra["duplicates"] == 0
    assert b4.extra["responses_other"] == b4.minimum == 6
    assert b4.total_requests == 6 + b4.extra["responses_429"]

    # B6: one grant per environment and command, through the real CLI and default_factory.
    (b6,) = found["B6"]
    assert b6.met, b6.verdict
    assert b6.requests["POST /token"] == 4 and b6.requests["POST /clients"] == 4

    # B7: every create sent once; a bucket of 50 never refuses 3 creates.
    for row in found["B7"]:
        assert row.requests == {"POST /token": 1, "GET /clients": 2, "POST /clients": 3}
        assert row.extra["failed"] == 0 and row.extra["duplicates"] == 0
        assert row.extra["responses_429"] == 0

    (scale,) = [r for r in found["B5"] if r.case.startswith("scaling")]
    assert scale.extra["cpu_small_s"] > 0
    assert {r.case for r in found["S1"]} == {
        "selvsync --version", "selvsync validate -C examples/quickstart"
    }
    assert all(r.extra["exit_codes"] == [0] for r in found["S1"])

    (c0,) = found["C0"]
    assert c0.requests == {"GET /clients/{id}": 20}

    assert table(rows).count("\n") == len(rows) + 1  # header, rule, one line per row
    json.dumps([row.as_dict() for row in rows])  # the results file can hold every row


def test_the_scope_benchmark_counts_two_listings_plus_one_read_per_scope(
    admin: AdminKey,
) -> None:
    from benchmarks.scopes_bench import scope_scenario

    config = dataclasses.replace(TINY, scopes=(6, 3), scope_latency_ms=1)
    apply_row, *plans = scope_scenario(admin, config, lambda _: None)
    assert apply_row.met and apply_row.extra["writes"] == 6 + 6 * 3
    for row in plans:
        assert row.met and row.extra["plan_empty"]
        assert row.requests == {
            "GET /clients": 1, "GET /prefix": 1, "GET /scopes": 1, "GET /scopes/access": 6,
        }


def test_the_organisations_benchmark_counts_one_grant_and_listing_per_credential(
    admin: AdminKey,
) -> None:
    from benchmarks.organisations_bench import organisations_scenario

    config = dataclasses.replace(TINY, organisations=(3, 2), organisations_latency_ms=1)
    rows = organisations_scenario(admin, config, lambda _: None)
    assert len(rows) == 4
    for supplier, separate in (rows[0:2], rows[2:4]):
        assert supplier.met and supplier.extra["plan_empty"]
        assert supplier.requests == {"POST /token": 1, "GET /clients": 1}
        assert separate.met and separate.extra["plan_empty"]
        assert separate.requests == {"POST /token": 3, "GET /clients": 3}
