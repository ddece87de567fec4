"""selvsync.plan.builder: desired state + live dicts in, changes out. Pure: no emulator.

Later moves to tests/plan/test_builder.py.
"""

from __future__ import annotations

from typing import Any

from selvsync.marker import Marker, compose
from selvsync.model import DesiredClient, DesiredState, EnvironmentSettings, SafetyLimits
from selvsync.plan.actions import Action
from selvsync.plan.builder import build_environment_plan
from selvsync.plan.changes import EnvironmentPlan, LiveSnapshot, PlanOptions

OWNER = "minside"
NOW = 1_750_000_000.0  # 2025-06-15
BATCH: dict[str, Any] = {
    "integration_type": "maskinporten",
    "client_name": "Batch",
    "scopes": ["skatteetaten:inntekt"],
}
# Someone else's client, so that the listing is never empty unless a test wants it.
FOREIGN: dict[str, Any] = {"client_id": "id-foreign", "description": "[selvsync:v1 o=x k=y]",
                           "integration_type": "idporten"}


def _state(*clients: DesiredClient, safety: SafetyLimits | None = None) -> DesiredState:
    env = EnvironmentSettings("test", "https://api.example.no", safety=safety or SafetyLimits())
    return DesiredState(env, {c.key: c for c in clients})


def _live(key: str, cid: str, fields: dict[str, Any], *, owner: str = OWNER,
          **marker: Any) -> dict[str, Any]:
    description = compose(fields.get("description"), Marker(owner, key, **marker))
    return {**fields, "client_id": cid, "description": description, "active": True}


def _plan(state: DesiredState, *clients: dict[str, Any]) -> EnvironmentPlan:
    return build_environment_plan(state, OWNER, LiveSnapshot(list(clients)),
                                  PlanOptions(now=NOW))


def _actions(plan: EnvironmentPlan) -> list[tuple[str, str]]:
    return [(str(c.action), c.key) for c in plan.ordered()]


def test_a_new_client_is_created_with_our_marker() -> None:
    plan = _plan(_state(DesiredClient("batch", dict(BATCH))), FOREIGN)
    (change,) = plan.changes
    assert change.action == Action.CREATE and change.client_id is None
    assert change.body is not None
    assert change.body["description"] == "[selvsync:v1 o=minside k=batch]"
    assert plan.absent == ["batch"]
    assert plan.counts == {"managed": 0, "orphaned": 0, "foreign": 1, "unmarked": 0,
                           "inactive": 0}
    assert not plan.refusals and not plan.blockers


def test_an_unchanged_client_has_no_changes() -> None:
    plan = _plan(_state(DesiredClient("batch", dict(BATCH))), _live("batch", "id-1", BATCH))
    assert plan.changes == []
    assert plan.counts["managed"] == 1
    assert set(plan.fingerprints) == {"id-1"}


def test_a_changed_field_is_an_update() -> None:
    live = _live("batch", "id-1", {**BATCH, "client_name": "Old"})
    plan = _plan(_state(DesiredClient("batch", dict(BATCH))), live)
    (change,) = plan.changes
    assert change.action == Action.UPDATE and change.client_id == "id-1"
    assert [(f.field, f.before, f.after) for f in change.fields] == [
        ("client_name", "Old", "Batch")]


def test_an_immutable_change_is_a_replace_blocked_without_allow_replace() -> None:
    live = _live("batch", "id-1", {**BATCH, "integration_type": "krr"})
    plan = _plan(_state(DesiredClient("batch", dict(BATCH))), live)
    assert _actions(plan) == [("replace", "batch")]
    assert plan.blockers == ["client 'batch' needs replacing; set `allow_replace: true` on it "
                             "to allow that"]
    allowed = _plan(_state(DesiredClient("batch", dict(BATCH), allow_replace=True)), live)
    assert allowed.blockers == [] and allowed.changes[0].destructive


def test_an_undeclared_client_of_ours_is_deactivated() -> None:
    plan = _plan(_state(), _live("gone", "id-9", BATCH, protected=True), FOREIGN)
    (change,) = plan.changes
    assert (change.action, change.client_id, change.protected) == (
        Action.DEACTIVATE, "id-9", True)
    assert plan.counts["orphaned"] == 1
    assert plan.refusals == [
        "client 'gone' is protected and would be deactivated; "
        "pass --allow-deactivate gone to allow it",
        "every managed client (1) would be deactivated; pass --allow-over-limit if that "
        "is intended",
    ]
    assert "id-9" in plan.fingerprints


def test_other_owners_and_unmarked_clients_are_left_alone() -> None:
    theirs = _live("batch", "id-2", BATCH, owner="someone-else")
    unmarked = {**BATCH, "client_id": "id-3", "description": "hand-made"}
    plan = _plan(_state(), theirs, unmarked)
    assert plan.changes == []
    assert plan.counts["foreign"] == 1 and plan.counts["unmarked"] == 1


def test_two_clients_with_one_marker_block() -> None:
    plan = _plan(_state(DesiredClient("batch", dict(BATCH))),
                 _live("batch", "id-1", BATCH), _live("batch", "id-2", BATCH))
    assert plan.blockers == ["more than one active client carries the marker for 'batch'; "
                             "deactivate the extra one in the portal first"]


def test_adopting_an_unmarked_client_by_client_id() -> None:
    unmarked = {**BATCH, "client_id": "id-3", "description": "hand-made", "active": True}
    plan = _plan(_state(DesiredClient("batch", dict(BATCH), client_id="id-3")), unmarked)
    (change,) = plan.changes
    assert change.action == Action.ADOPT and change.client_id == "id-3"
    assert [f.field for f in change.fields] == ["description"]


def test_adopting_a_missing_client_blocks() -> None:
    plan = _plan(_state(DesiredClient("batch", dict(BATCH), client_id="id-404")), FOREIGN)
    assert plan.changes == []
    assert "id-404 to adopt is not found" in plan.blockers[0]


def test_a_deactivated_client_of_ours_is_recreated_with_a_note() -> None:
    old = {**_live("batch", "id-1", BATCH), "active": False}
    plan = _plan(_state(DesiredClient("batch", dict(BATCH))), old)
    (change,) = plan.changes
    assert change.action == Action.CREATE
    assert "a deactivated client with this key exists (id-1)" in change.notes[0]
    assert plan.counts["inactive"] == 1


def test_an_empty_listing_is_refused_unless_configured_to_warn() -> None:
    plan = _plan(_state(DesiredClient("batch", dict(BATCH))))
    assert "Digdir returned no clients at all" in plan.refusals[0]
    relaxed = _plan(_state(DesiredClient("batch", dict(BATCH)),
                           safety=SafetyLimits(refuse_empty_listing=False)))
    assert relaxed.refusals == [] and "Digdir returned no clients" in relaxed.warnings[0]


def test_too_many_deactivations_are_refused() -> None:
    live = [_live(f"c{i}", f"id-{i}", BATCH) for i in range(10)]
    keep = [DesiredClient(f"c{i}", dict(BATCH)) for i in range(6)]
    plan = _plan(_state(*keep), *live)
    assert [str(c.action) for c in plan.changes] == ["deactivate"] * 4
    hint = "; pass --allow-over-limit if that is intended"
    assert plan.refusals == [
        "4 clients would be deactivated or replaced (limit 3, `safety.max_destroy`)" + hint,
        "4 of 10 managed clients would be deactivated or replaced (40 %, limit 30 %)" + hint,
    ]


def test_an_old_secret_is_rotated() -> None:
    web = {"integration_type": "idporten", "client_name": "Web",
           "token_endpoint_auth_method": "client_secret_basic",
           "redirect_uris": ["https://a.example.no/cb"],
           "post_logout_redirect_uris": ["https://a.example.no/"]}
    live = {**_live("web", "id-1", {**web, "scopes": ["openid", "profile"]}),
            "created": "2024-01-01T00:00:00Z"}
    plan = _plan(_state(DesiredClient("web", dict(web))), live)
    (change,) = plan.changes
    assert change.action == Action.ROTATE_SECRET and change.returns_secret
    assert "the secret was issued 2024-01-01" in change.notes[0]
