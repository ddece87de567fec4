"""Plan and apply against the emulator: convergence, ownership, safety, faults, plan files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from selvsync.apply.runner import apply_plan
from selvsync.emulator import Emulator
from selvsync.errors import StalePlanError
from selvsync.live import planfile
from selvsync.live.planning import plan_project
from selvsync.live.read import read_snapshot
from selvsync.marker import parse
from selvsync.plan import freshness
from selvsync.plan.actions import Action
from selvsync.plan.changes import Plan, PlanOptions
from selvsync.plan.results import Status
from tests.harness import (
    ProjectDir,
    create_out_of_band,
    edit_out_of_band,
    idporten,
    make_emulator,
    raw_clients,
)


@pytest.fixture
def emu() -> Emulator:
    return make_emulator(shuffle_lists=True, seed=7)


@pytest.fixture
def proj(tmp_path: Path) -> ProjectDir:
    return ProjectDir(tmp_path / "p")


def plan_of(proj: ProjectDir, emu: Emulator, *, refresh: bool = False) -> Plan:
    with proj.session(emu, "plan") as session:
        return plan_project(session, options=PlanOptions(now=time.time(), refresh=refresh))


def apply_all(proj: ProjectDir, emu: Emulator, **options: Any) -> Any:
    with proj.session(emu) as session:
        plan = plan_project(session)
        return plan, apply_plan(session, plan, **options)


def actions(plan: Plan) -> list[tuple[str, str]]:
    return sorted((c.key, str(c.action)) for c in plan.changes)


def active(emu: Emulator) -> list[dict[str, Any]]:
    return [c for c in raw_clients(emu) if c.get("active", True)]


def test_quickstart_converges_with_shuffled_lists_and_server_defaults(
    tmp_path: Path, emu: Emulator
) -> None:
    import shutil

    from tests.harness import EXAMPLES

    root = tmp_path / "qs"
    shutil.copytree(EXAMPLES / "quickstart", root)
    proj = ProjectDir.__new__(ProjectDir)
    proj.root = root
    plan, report = apply_all(proj, emu)
    assert sorted(c.action for c in plan.changes) == [Action.CREATE] * 6 + [Action.MERCHANT] * 6
    assert report.ok, [o.message for o in report.outcomes]
    again = plan_of(proj, emu)
    assert again.empty, [(c.key, c.action, c.fields) for c in again.changes]
    assert len(active(emu)) == 6


def test_update_shows_field_level_change(proj: ProjectDir, emu: Emulator) -> None:
    proj.write({"web": idporten("Web")})
    apply_all(proj, emu)
    proj.write({"web": idporten("Web", client_name="Web 2", scopes=["openid", "profile", "eidas"])})
    plan = plan_of(proj, emu)
    (change,) = plan.changes
    assert change.action == Action.UPDATE
    fields = {f.field: (f.before, f.after) for f in change.fields}
    assert fields["client_name"] == ("Web", "Web 2")
    assert fields["scopes"] == (["openid", "profile"], ["eidas", "openid", "profile"])
    _, report = apply_all(proj, emu)
    assert report.ok
    assert plan_of(proj, emu).empty


def test_removed_client_is_deactivated_and_foreign_unmarked_untouched(
    proj: ProjectDir, emu: Emulator
) -> None:
    for description in ("made by hand", "prod-gcp:team:app", "x [selvsync:v1 o=team-b k=web]"):
        create_out_of_band(emu, idporten("Other", description=description))
    before = {c["client_id"]: c for c in raw_clients(emu)}
    proj.write({"web": idporten("Web"), "gone": idporten("Gone")})
    apply_all(proj, emu)
    proj.write({"web": idporten("Web")})
    plan = plan_of(proj, emu)
    assert actions(plan) == [("gone", "deactivate")]
    assert plan.environments[0].counts["foreign"] == 2
    assert plan.environments[0].counts["unmarked"] == 1
    apply_all(proj, emu)
    after = {c["client_id"]: c for c in raw_clients(emu)}
    for cid, client in before.items():
        assert after[cid] == client  # never written
    assert plan_of(proj, emu).empty


def test_adopt_writes_only_the_marker(proj: ProjectDir, emu: Emulator) -> None:
    cid = create_out_of_band(emu, idporten("Legacy", description="hand made"))["client_id"]
    proj.write({"legacy": idporten("Legacy", description="hand made", client_id=cid)})
    plan = plan_of(proj, emu)
    (change,) = plan.changes
    assert change.action == Action.ADOPT
    assert [f.field for f in change.fields] == ["description"]
    _, report = apply_all(proj, emu)
    assert report.ok
    (live,) = active(emu)
    human, marker = parse(live["description"])
    assert human == "hand made" and marker is not None and marker.key == "legacy"
    assert plan_of(proj, emu).empty


def test_integration_type_change_needs_opt_in(proj: ProjectDir, emu: Emulator) -> None:
    proj.write({"web": idporten("Web")})
    apply_all(proj, emu)
    proj.write({"web": idporten("Web", integration_type="ansattporten")})
    plan = plan_of(proj, emu)
    assert actions(plan) == [("web", "replace")]
    assert any("allow_replace" in b for b in plan.environments[0].blockers)
    proj.write({"web": idporten("Web", integration_type="ansattporten", allow_replace=True)})
    plan, report = apply_all(proj, emu)
    assert not plan.refusals()
    assert report.ok
    clients = raw_clients(emu)
    assert sorted((c["integration_type"], c["active"]) for c in clients) == [
        ("ansattporten", True),
        ("idporten", False),
    ]
    assert plan_of(proj, emu).empty


def test_deactivated_but_declared_becomes_a_new_create(proj: ProjectDir, emu: Emulator) -> None:
    proj.write({"web": idporten("Web")})
    apply_all(proj, emu)
    proj.write({})
    apply_all(proj, emu)
    proj.write({"web": idporten("Web")})
    plan = plan_of(proj, emu)
    (change,) = plan.changes
    assert change.action == Action.CREATE
    assert any("deactivated client with this key exists" in n for n in change.notes)


def test_safety_limit_on_mass_deactivation(proj: ProjectDir, emu: Emulator) -> None:
    proj.write({f"c{i}": idporten(f"C{i}") for i in range(10)})
    apply_all(proj, emu)
    proj.write({f"c{i}": idporten(f"C{i}") for i in range(6)})
    plan = plan_of(proj, emu)
    assert len(plan.changes) == 4
    absolute, share = plan.refusals()
    assert "4 clients would be deactivated or replaced (limit 3" in absolute
    assert "4 of 10 managed clients" in share and "limit 30 %" in share
    assert plan.refusals(force=True) == []
    proj.write({f"c{i}": idporten(f"C{i}") for i in range(8)})
    assert plan_of(proj, emu).refusals() == []


def test_protected_client_refused_even_after_leaving_yaml(proj: ProjectDir, emu: Emulator) -> None:
    proj.write({"web": idporten("Web", protect=True)})
    apply_all(proj, emu)
    proj.write({})
    plan = plan_of(proj, emu)
    assert any("protected" in r for r in plan.refusals())
    assert plan.refusals(force=True) == []


def test_create_commit_then_drop_ends_with_one_client(proj: ProjectDir, emu: Emulator) -> None:
    proj.write({"web": idporten("Web")})
    emu.faults.add("drop", method="POST", path="/api/v1/clients", times=1)
    _, report = apply_all(proj, emu)
    assert report.ok, [o.message for o in report.outcomes]
    assert len(active(emu)) == 1
    assert plan_of(proj, emu).empty


def test_secret_client_ambiguous_create_rotates_into_sink(proj: ProjectDir, emu: Emulator) -> None:
    import json

    proj.write({"sak": idporten("Sak", token_endpoint_auth_method="client_secret_basic")})
    emu.faults.add("drop", method="POST", path="/api/v1/clients", times=1)
    _, report = apply_all(proj, emu)
    assert report.ok, [o.message for o in report.outcomes]
    (live,) = active(emu)
    stored = json.loads((proj.root / ".selvsync" / "secrets.json").read_text())
    assert stored["test"]["sak"]["client_id"] == live["client_id"]
    assert stored["test"]["sak"]["client_secret"]
    assert emu.counters().get("POST /clients/{id}/secret", 0) == 1


def test_failure_midway_gives_partial_and_rerun_converges(proj: ProjectDir, emu: Emulator) -> None:
    proj.write({f"c{i}": idporten(f"C{i}") for i in range(10)})
    session_concurrency = 1
    text = (proj.root / "selvsync.yaml").read_text()
    (proj.root / "selvsync.yaml").write_text(text + f"    concurrency: {session_concurrency}\n")
    with proj.session(emu) as session:
        plan = plan_project(session)
        # Let four creates through, then make the emulator reject the fifth with a 400.
        ok_first = 4
        original = session.client("test").create_client
        calls = {"n": 0}

        def flaky(body: dict[str, Any], **kw: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == ok_first + 1:
                emu.faults.add("status", method="POST", path="/api/v1/clients", status=400, times=1)
            return original(body, **kw)

        session.client("test").create_client = flaky  # type: ignore[method-assign]
        report = apply_plan(session, plan)
    assert report.count(Status.APPLIED) == 4
    assert report.count(Status.FAILED) == 1
    assert report.count(Status.NOT_ATTEMPTED) == 5
    assert len(active(emu)) == 4
    remaining = plan_of(proj, emu)
    assert len(remaining.changes) == 6
    _, report = apply_all(proj, emu)
    assert report.ok
    assert len(active(emu)) == 10
    assert plan_of(proj, emu).empty


def test_plan_file_refuses_when_live_state_moved(
    proj: ProjectDir, emu: Emulator, tmp_path: Path
) -> None:
    proj.write({"web": idporten("Web")})
    apply_all(proj, emu)
    proj.write({"web": idporten("Web", client_name="Web 2")})
    plan = plan_of(proj, emu)
    path = tmp_path / "plan.json"
    planfile.write(plan, path)
    cid = plan.changes[0].client_id
    assert cid is not None
    edit_out_of_band(emu, cid, client_name="Changed by hand")
    saved = planfile.read(path)
    counters_before = emu.counters()
    with proj.session(emu) as session:
        snaps = {
            e.name: read_snapshot(session.client(e.name), freshness.jwks_ids(e), 4)
            for e in saved.environments
        }
        with pytest.raises(StalePlanError, match=f"client {cid} .'web'. changed"):
            freshness.check_fresh(saved, snaps)
    writes = {k: v for k, v in emu.counters().items() if not k.startswith("GET")}
    assert writes == {k: v for k, v in counters_before.items() if not k.startswith("GET")}


def test_plan_file_applied_twice_never_duplicates(
    proj: ProjectDir, emu: Emulator, tmp_path: Path
) -> None:
    proj.write({"web": idporten("Web")})
    path = tmp_path / "plan.json"
    planfile.write(plan_of(proj, emu), path)
    for attempt in range(2):
        saved = planfile.read(path)
        with proj.session(emu) as session:
            snaps = {
                e.name: read_snapshot(session.client(e.name), [], 4) for e in saved.environments
            }
            if attempt == 0:
                freshness.check_fresh(saved, snaps)
                assert apply_plan(session, saved).ok
            else:
                with pytest.raises(StalePlanError, match="planned for create but now exists"):
                    freshness.check_fresh(saved, snaps)
    assert len(active(emu)) == 1


def test_one_listing_per_environment(proj: ProjectDir, emu: Emulator) -> None:
    proj.write({f"c{i}": idporten(f"C{i}") for i in range(5)})
    apply_all(proj, emu)
    emu.reset_counters()
    assert plan_of(proj, emu).empty
    assert emu.counters() == {"GET /clients": 1}


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 500},  # not committed: re-list finds nothing, retry once
        {"kind": "commit_status", "status": 502},  # committed, answer lost: re-list finds it
        {"kind": "drop"},  # committed, connection reset
    ],
)
def test_ambiguous_create_never_duplicates(
    proj: ProjectDir, emu: Emulator, fault: dict[str, Any]
) -> None:
    proj.write({"web": idporten("Web")})
    options = dict(fault)
    emu.faults.add(options.pop("kind"), method="POST", path="/api/v1/clients", times=1, **options)
    _, report = apply_all(proj, emu)
    assert report.ok, [o.message for o in report.outcomes]
    assert len(active(emu)) == 1
    assert plan_of(proj, emu).empty


def test_key_file_change_plans_update_keys(proj: ProjectDir, emu: Emulator) -> None:
    import shutil

    from tests.harness import EXAMPLES

    proj.copy_keys(EXAMPLES / "quickstart" / "keys")
    proj.write(
        {
            "m2m": {
                "integration_type": "maskinporten",
                "client_name": "M2M",
                "token_endpoint_auth_method": "private_key_jwt",
                "scopes": ["org:api.read"],
                "keys": "keys/skatt-api.jwks.json",
            }
        }
    )
    apply_all(proj, emu)
    assert plan_of(proj, emu).empty
    shutil.copy(
        proj.root / "keys" / "krr-oppslag.jwks.json", proj.root / "keys" / "skatt-api.jwks.json"
    )
    plan = plan_of(proj, emu)
    (change,) = plan.changes
    assert change.action == Action.UPDATE_KEYS
    assert change.keys_added[0].startswith("krr-oppslag-")
    # Step 1 of a rotation: the old key stays registered next to the new one.
    assert change.keys_removed == []
    assert change.jwks is not None and len(change.jwks) == 2
    assert any("stay registered next to the new ones" in n for n in change.notes)
    _, report = apply_all(proj, emu)
    assert report.ok
    waiting = plan_of(proj, emu)
    assert waiting.empty and waiting.drift  # a pending removal counts for --detailed-exitcode
    assert any("waits until" in n for n in waiting.environments[0].maintenance)
    # Step 2, once the new key has propagated: the old key goes.
    later = PlanOptions(now=time.time() + 11 * 60)
    with proj.session(emu) as session:
        plan = plan_project(session, options=later)
        (change,) = plan.changes
        assert change.keys_added == [] and change.keys_removed[0].startswith("skatt-api-")
        assert apply_plan(session, plan).ok
        assert plan_project(session, options=later).empty


def test_continue_on_error_carries_on(proj: ProjectDir, emu: Emulator) -> None:
    text = (proj.root / "selvsync.yaml").read_text()
    (proj.root / "selvsync.yaml").write_text(text + "    concurrency: 1\n")
    proj.write({f"c{i}": idporten(f"C{i}") for i in range(4)})
    emu.faults.add("status", method="POST", path="/api/v1/clients", status=400, times=1)
    _, report = apply_all(proj, emu, continue_on_error=True)
    assert report.count(Status.FAILED) == 1
    assert report.count(Status.APPLIED) == 3
    assert len(active(emu)) == 3


def test_merchant_data_costs_one_request_not_one_per_client(
    proj: ProjectDir, emu: Emulator
) -> None:
    merchant = {"notification_emails": ["ops@example.no"]}
    proj.write({f"c{i}": idporten(f"C{i}") for i in range(5)}, merchant=merchant)
    apply_all(proj, emu)
    emu.reset_counters()
    assert plan_of(proj, emu).empty
    assert emu.counters() == {"GET /clients": 1, "GET /x-emulator/merchant": 1}


def test_interrupt_starts_nothing_new_and_reports(proj: ProjectDir, emu: Emulator) -> None:
    text = (proj.root / "selvsync.yaml").read_text()
    (proj.root / "selvsync.yaml").write_text(text + "    concurrency: 1\n")
    proj.write({f"c{i}": idporten(f"C{i}") for i in range(3)})
    with proj.session(emu) as session:
        plan = plan_project(session)
        client = session.client("test")
        original = client.create_client
        calls = {"n": 0}

        def interrupted_on_second(body: dict[str, Any], **kw: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            return original(body, **kw)

        client.create_client = interrupted_on_second  # type: ignore[method-assign]
        report = apply_plan(session, plan)
    assert report.interrupted
    assert calls["n"] == 2  # the third create was never started
    assert report.count(Status.APPLIED) == 1
    assert report.count(Status.NOT_ATTEMPTED) == 2
    assert len(active(emu)) == 1


def test_a_404_for_a_key_set_reads_as_no_keys(proj: ProjectDir, emu: Emulator) -> None:
    from tests.harness import EXAMPLES

    proj.copy_keys(EXAMPLES / "quickstart" / "keys")
    proj.write(
        {
            "m2m": {
                "integration_type": "maskinporten",
                "client_name": "M2M",
                "scopes": ["org:api.read"],
                "keys": "keys/skatt-api.jwks.json",
            }
        }
    )
    apply_all(proj, emu)
    # Some API versions answer 404 rather than {"keys": []} for a client without keys.
    emu.faults.add("status", method="GET", path="/api/v1/clients/*/jwks", status=404, times=1)
    # --refresh: the marker records the registered set, so a plan reads it only on refresh.
    (change,) = plan_of(proj, emu, refresh=True).changes
    assert change.action == Action.UPDATE_KEYS
    assert change.keys_added[0].startswith("skatt-api-")
