"""Plan at the floor: a key set is read only where the marker's ``j=`` does not vouch for it.

Apply records the key set it registered in the client's marker (digest + earliest expiry);
a plan then skips ``GET /jwks`` for that client while the declared keys are unchanged and none
expires within the warning window. ``refresh`` reads every declared set. Requests are counted
at the emulator, never timed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from selvsync.apply.runner import apply_plan
from selvsync.emulator import Emulator
from selvsync.errors import StalePlanError
from selvsync.live import planfile
from selvsync.live.planning import load_fresh_plan, plan_project
from selvsync.marker import parse
from selvsync.plan import keys as keyplan
from selvsync.plan.actions import Action
from selvsync.plan.changes import Plan, PlanOptions
from selvsync.plan.results import Status
from tests.harness import EXAMPLES, ProjectDir, make_emulator, raw_clients, raw_http

JWKS = "GET /clients/{id}/jwks"
DAY = 86400


def _key(name: str) -> dict[str, Any]:
    data = json.loads((EXAMPLES / "quickstart" / "keys" / f"{name}.jwks.json").read_text())
    key: dict[str, Any] = data["keys"][0]
    return key


@pytest.fixture
def emu() -> Emulator:
    return make_emulator(seed=11)


@pytest.fixture
def proj(tmp_path: Path) -> ProjectDir:
    made = ProjectDir(tmp_path / "p")
    (made.root / "keys").mkdir()
    _declare(made, [_key("skatt-api")])
    return made


def _declare(proj: ProjectDir, keys: list[dict[str, Any]]) -> None:
    (proj.root / "keys" / "m2m.jwks.json").write_text(json.dumps({"keys": keys}))
    proj.write(
        {
            "m2m": {
                "integration_type": "maskinporten",
                "client_name": "M2M",
                "scopes": ["org:api.read"],
                "keys": "keys/m2m.jwks.json",
            }
        }
    )


def _plan(proj: ProjectDir, emu: Emulator, **options: Any) -> Plan:
    options.setdefault("now", time.time())
    with proj.session(emu, "plan") as session:
        return plan_project(session, options=PlanOptions(**options))


def _apply(proj: ProjectDir, emu: Emulator) -> Any:
    with proj.session(emu) as session:
        plan = plan_project(session)
        return apply_plan(session, plan)


def _m2m(emu: Emulator) -> dict[str, Any]:
    (client,) = [c for c in raw_clients(emu) if c.get("active") is not False]
    return client


def _reads(emu: Emulator) -> int:
    return emu.counters().get(JWKS, 0)


def test_a_create_records_the_key_set_and_the_next_plan_reads_none(
    proj: ProjectDir, emu: Emulator
) -> None:
    emu.reset_counters()
    report = _apply(proj, emu)
    assert report.count(Status.APPLIED) == 1
    # The create, its key set, then one PUT recording the set in the marker.
    counts = emu.counters()
    assert counts["POST /clients"] == 1 and counts["POST /clients/{id}/jwks"] == 1
    assert counts["PUT /clients/{id}"] == 1
    live = _m2m(emu)
    _, marker = parse(live["description"])
    assert marker is not None and marker.keys is not None
    with raw_http(emu) as http:
        served = http.get(f"/api/v1/clients/{live['client_id']}/jwks").json()["keys"]
    assert marker.keys == keyplan.mark(served)
    assert marker.keys.startswith(keyplan.set_digest([_key("skatt-api")]) + ".")

    emu.reset_counters()
    plan = _plan(proj, emu)
    assert plan.empty and not plan.environments[0].warnings
    assert emu.counters() == {"GET /clients": 1}  # a static token: no grant request


def test_refresh_reads_every_declared_key_set_and_finds_a_portal_change(
    proj: ProjectDir, emu: Emulator
) -> None:
    _apply(proj, emu)
    cid = _m2m(emu)["client_id"]
    # Someone replaces the key set in the portal: the marker still names the old set.
    with raw_http(emu) as http:
        http.post(f"/api/v1/clients/{cid}/jwks", json={"keys": [_key("krr-oppslag")]})
    emu.reset_counters()
    assert _plan(proj, emu).empty  # trusted the marker: the documented price of the floor
    assert _reads(emu) == 0
    emu.reset_counters()
    (change,) = _plan(proj, emu, refresh=True).changes
    assert _reads(emu) == 1
    assert change.action == Action.UPDATE_KEYS
    assert change.keys_added == [_key("skatt-api")["kid"]]


def test_a_rotation_reads_the_set_until_it_is_finished(
    proj: ProjectDir, emu: Emulator
) -> None:
    _apply(proj, emu)
    # Step 1: a new key declared beside the old one: the digests differ, so the set is read.
    _declare(proj, [_key("minside-web")])
    emu.reset_counters()
    (change,) = _plan(proj, emu).changes
    assert _reads(emu) == 1 and change.action == Action.UPDATE_KEYS
    assert change.body is not None  # the marker PUT after the key write
    _apply(proj, emu)
    _, marker = parse(_m2m(emu)["description"])
    assert marker is not None and marker.keys is not None
    # The registered set holds the old key too, so it is not the declared set: read again.
    assert not marker.keys.startswith(keyplan.set_digest([_key("minside-web")]))
    emu.reset_counters()
    plan = _plan(proj, emu)
    assert _reads(emu) == 1
    assert plan.environments[0].maintenance  # the removal waits for propagation
    # Step 2, after propagation: the old key is removed and the set recorded again.
    later = time.time() + 3600
    (change,) = _plan(proj, emu, now=later).changes
    assert change.keys_removed == [_key("skatt-api")["kid"]]
    with proj.session(emu) as session:
        plan = plan_project(session, options=PlanOptions(now=later))
        assert apply_plan(session, plan).count(Status.APPLIED) == 1
    emu.reset_counters()
    assert _plan(proj, emu).empty
    assert _reads(emu) == 0


def test_a_key_expiring_within_the_warning_window_is_read_and_warned_about(
    proj: ProjectDir, emu: Emulator
) -> None:
    _apply(proj, emu)
    emu.reset_counters()
    soon = time.time() + 360 * DAY  # the key expires in about five days then
    plan = _plan(proj, emu, now=soon)
    assert _reads(emu) == 1
    (warning,) = plan.environments[0].warnings
    assert "expires" in warning and plan.environments[0].maintenance


def test_a_failed_marker_write_costs_a_read_not_a_change(
    proj: ProjectDir, emu: Emulator
) -> None:
    emu.faults.add("status", method="PUT", path="/api/v1/clients/*", status=400, times=1)
    report = _apply(proj, emu)
    assert report.count(Status.APPLIED) == 1  # the keys are registered either way
    _, marker = parse(_m2m(emu)["description"])
    assert marker is not None and marker.keys is None
    emu.reset_counters()
    assert _plan(proj, emu).empty
    assert _reads(emu) == 1


def test_a_plan_file_checks_the_key_sets_it_read_and_the_marker_it_trusted(
    proj: ProjectDir, emu: Emulator, tmp_path: Path
) -> None:
    _apply(proj, emu)
    cid = _m2m(emu)["client_id"]
    # Trusted the marker: no key-set fingerprint, but the client's covers the marker.
    trusted = _plan(proj, emu)
    assert set(trusted.environments[0].fingerprints) == {cid}
    # Read the set (refresh): its fingerprint is recorded and re-checked on apply.
    path = tmp_path / "plan.json"
    planfile.write(_plan(proj, emu, refresh=True), path)
    with raw_http(emu) as http:
        http.post(f"/api/v1/clients/{cid}/jwks", json={"keys": [_key("krr-oppslag")]})
    with proj.session(emu) as session, pytest.raises(StalePlanError, match="keys of client"):
        load_fresh_plan(session, path, time.time())


def test_fingerprints_are_skipped_when_no_plan_file_needs_them(
    proj: ProjectDir, emu: Emulator
) -> None:
    _apply(proj, emu)
    plan = _plan(proj, emu, fingerprints=False)
    assert plan.empty and plan.environments[0].fingerprints == {}


@pytest.mark.parametrize(
    ("recorded", "days_left", "expected"),
    [
        ("same", 400, True),
        ("same", 10, False),  # within the 30-day window: read it, warn from live data
        ("other", 400, False),
        ("nodate", 400, False),
        (None, 400, False),
    ],
)
def test_vouched(recorded: str | None, days_left: int, expected: bool) -> None:
    declared = [_key("skatt-api")]
    now = 1_700_000_000.0
    exp = now + days_left * DAY
    served = [{**declared[0], "exp": int(exp)}]
    value = {
        "same": keyplan.mark(served),
        "other": keyplan.mark([{**_key("krr-oppslag"), "exp": int(exp)}]),
        "nodate": keyplan.mark(declared),  # no exp served: nothing known about expiry
        None: None,
    }[recorded]
    assert keyplan.vouched(value, declared, now=now, expiry_warning_days=30) is expected
