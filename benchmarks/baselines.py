"""The peers selvsync's plan is compared with, each modelled the way its code calls the API,
all run in the same process against the same emulator, client, auth and latency.

* **Terraform refresh** (``terraform plan`` refreshes every resource in state): one token, then
  one ``GET /clients/{id}`` per resource, at most ``-parallelism`` at a time (10 by default;
  32 measured too). Terraform's walker starts a resource's refresh as soon as a slot is free.
* **digdirator** (nais/digdirator, read for this model: ``controllers/common/reconciler.go``,
  ``pkg/digdir/client.go``, ``pkg/digdir/auth.go``): a reconcile of an *unchanged* object
  (its spec hash matches the status) makes no call at all, and so never sees drift in Digdir;
  a reconcile that does look (a changed spec, a resync annotation, a new controller version
  changing the hash) calls ``GetRegistration``: every request first fetches a fresh token
  (``getAuthToken`` has no cache) and then lists all the organisation's clients to find its
  own by description. controller-runtime runs one reconcile at a time by default. Modelled:
  N looking reconciles, one after the other, each a token grant and a listing.
* **one-listing script** (the strongest naive peer): one token, one listing, and a diff in
  plain Python of the declared clients (already in memory: no YAML loading) against it.

Only reads are counted, and the first two do no diff at all, which flatters them. For big N
Terraform and digdirator are measured on their first ``cap`` objects and extrapolated linearly
(Terraform: ⌈n/p⌉ rounds of one round trip plus CPU per request; digdirator: n sequential
reconciles of the same cost), marked as extrapolated in the results.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from benchmarks.measure import Phases, Stats, repeat
from benchmarks.workload import Workload

TERRAFORM_DEFAULT = 10
TERRAFORM_WIDE = 32
TF10 = f"Terraform refresh, -parallelism={TERRAFORM_DEFAULT}"
TF32 = f"Terraform refresh, -parallelism={TERRAFORM_WIDE}"
DIGDIRATOR = "digdirator, every object reconciled"
SCRIPT = "one-listing script"
PEERS = (TF10, TF32, DIGDIRATOR, SCRIPT)


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


def _capped(total: int, cap: int, rounds_of: int) -> int:
    # A whole number of rounds, so the extrapolation multiplies complete rounds.
    if total <= cap:
        return total
    return max(rounds_of, (cap // rounds_of) * rounds_of)


def terraform_refresh(work: Workload, runs: int, cap: int, parallelism: int) -> BaselineResult:
    ids = sorted(work.ids.values())
    measured = _capped(len(ids), cap, parallelism)
    chosen = ids[:measured]

    def run(_: Phases) -> None:
        with (
            work.client("plan", parallelism) as client,
            ThreadPoolExecutor(parallelism) as pool,
        ):
            list(pool.map(client.get_client, chosen))

    name = f"Terraform refresh, -parallelism={parallelism}"
    return _baseline(name, work, run, runs, measured, len(ids))


def digdirator_reconcile(work: Workload, runs: int, cap: int) -> BaselineResult:
    measured = _capped(work.n, cap, 1)
    # digdirator names its clients "cluster:namespace:name"; the seeded clients carry no such
    # description, so each reconcile scans the whole listing, as a first reconcile does.
    wanted = [f"bench:default:{key}" for key in sorted(work.ids)[:measured]]

    def run(_: Phases) -> None:
        for description in wanted:  # one reconcile at a time
            # A fresh client per reconcile: getAuthToken fetches a new token every time.
            with work.client("plan", 1) as client:
                listed = client.list_clients()
            next((c for c in listed if c.get("description") == description), None)

    return _baseline(DIGDIRATOR, work, run, runs, measured, work.n)


_MARKER_KEY = re.compile(r"\[selvsync:v1 [^\]]*\bk=([A-Za-z0-9._-]+)")


def one_listing_script(work: Workload, runs: int) -> BaselineResult:
    declared = {
        key: {k: v for k, v in body.items() if k != "keys"} for key, body in work.declared.items()
    }

    def run(_: Phases) -> None:
        with work.client("plan", 1) as client:
            listed = client.list_clients(inactive=True)
        _naive_diff(declared, listed)

    return _baseline(SCRIPT, work, run, runs, work.n, work.n)


def _naive_diff(
    declared: Mapping[str, Mapping[str, Any]], listed: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    """Match by the marker's key, compare each declared field (lists as sets)."""
    live: dict[str, dict[str, Any]] = {}
    for client in listed:
        match = _MARKER_KEY.search(str(client.get("description") or ""))
        if match and client.get("active") is not False:
            live[match.group(1)] = client
    changes = []
    for key, fields in declared.items():
        current = live.get(key)
        if current is None:
            changes.append((key, "create"))
            continue
        for name, value in fields.items():
            if name == "description":
                continue
            have = current.get(name)
            if isinstance(value, list):
                same = isinstance(have, list) and sorted(map(str, value)) == sorted(map(str, have))
            else:
                same = have == value
            if not same:
                changes.append((key, name))
    changes += [(key, "deactivate") for key in live if key not in declared]
    return changes


def _baseline(
    name: str, work: Workload, run: Any, runs: int, measured: int, total: int
) -> BaselineResult:
    work.reset_counts()
    stats = repeat(run, runs, work.metered)
    requests = {k: math.ceil(v / runs) for k, v in work.emu.counters().items()}
    return BaselineResult(name, requests, measured, total, stats)

