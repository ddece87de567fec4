"""Plan, EnvironmentPlan and Change (selvsync.plan.changes) and their JSON document
(selvsync.plan.document). Pure: no emulator. Later moves to tests/plan/test_changes.py."""

from __future__ import annotations

import json

import pytest

from selvsync.plan import document
from selvsync.plan.actions import Action
from selvsync.plan.changes import (
    JWKS_SUFFIX,
    Change,
    EnvironmentPlan,
    LiveSnapshot,
    Plan,
    fingerprint,
    jwks_fingerprint,
)
from selvsync.plan.diff import FieldChange


def _plan() -> Plan:
    prod = EnvironmentPlan(
        "prod",
        changes=[
            Change("prod", "b-app", Action.CREATE, body={"client_name": "B"}),
            Change("prod", "old", Action.DEACTIVATE, "id-old"),
            Change("prod", "a-app", Action.UPDATE, "id-a",
                   fields=[FieldChange("client_name", "A", "A2")]),
            Change("prod", "a-app", Action.CREATE),
            Change("prod", "pay", Action.MERCHANT, "id-p", manual=True),
        ],
        counts={"managed": 3},
        fingerprints={"id-a": "f1"},
        absent=["b-app"],
    )
    test = EnvironmentPlan("test", changes=[Change("test", "x", Action.REPLACE, "id-x")])
    return Plan("991825827", "minside", [prod, test])


def test_ordered_puts_destructive_first_then_by_key() -> None:
    env = _plan().environments[0]
    assert [(str(c.action), c.key) for c in env.ordered()] == [
        ("deactivate", "old"), ("create", "a-app"), ("create", "b-app"),
        ("update", "a-app"), ("merchant", "pay"),
    ]


def test_summaries_count_every_action() -> None:
    plan = _plan()
    assert plan.environments[0].summary() == {
        "deactivate": 1, "replace": 0, "create": 2, "adopt": 0, "rename": 0, "update": 1,
        "update-keys": 0, "rotate-secret": 0, "merchant": 1, "scope-deactivate": 0,
        "revoke": 0, "scope-create": 0, "scope-reactivate": 0, "scope-update": 0, "grant": 0,
        "onbehalfof-create": 0, "onbehalfof-update": 0, "onbehalfof-delete": 0,
    }
    assert plan.summary()["replace"] == 1 and plan.summary()["create"] == 2
    assert list(plan.summary()) == list(plan.environments[0].summary())


def test_plan_properties() -> None:
    plan = _plan()
    assert not plan.empty
    assert [c.key for c in plan.changes][:2] == ["old", "a-app"]
    assert "pay" not in [c.key for c in plan.automatic]
    assert [c.destructive for c in plan.environments[1].changes] == [True]
    assert Plan("1", "o", [EnvironmentPlan("e")]).empty


def test_refusals_and_force() -> None:
    plan = _plan()
    plan.environments[0].refusals.append("too many")
    plan.environments[1].blockers.append("fix it")
    assert plan.refusals() == ["test: fix it", "prod: too many"]
    assert plan.refusals(force=True) == ["test: fix it"]


def test_document_round_trip() -> None:
    plan = _plan()
    doc = json.loads(document.dumps(plan, plan_file=True))
    assert doc["kind"] == document.KIND and doc["format_version"] == document.FORMAT_VERSION
    back = document.from_dict(doc)
    assert document.as_dict(back, plan_file=True) == document.as_dict(plan, plan_file=True)
    assert back.environments[0].absent == ["b-app"]


def test_the_json_output_has_no_plan_file_parts() -> None:
    doc = document.plan_document(_plan())
    assert "kind" not in doc
    assert "fingerprints" not in doc["environments"][0]
    assert "body" not in doc["changes"][0]
    assert [c.get("manual") for c in doc["changes"] if c["action"] == "merchant"] == [True]


def test_the_document_masks_sensitive_fields() -> None:
    change = Change("prod", "a", Action.UPDATE, "id-a",
                    fields=[FieldChange("client_secret", None, "s3cret")],
                    body={"access_token": "t0ken"})
    plan = Plan("1", "o", [EnvironmentPlan("prod", changes=[change])])
    text = document.dumps(plan, plan_file=True)
    assert "s3cret" not in text and "t0ken" not in text
    assert document.plan_document(plan)["changes"][0]["fields"][0]["before"] is None


@pytest.mark.parametrize("bad", [
    {}, {"kind": "selvsync-plan", "format_version": 99},
    {"kind": "selvsync-plan", "format_version": 2, "orgno": "1", "owner": "o",
     "environments": [], "changes": [{"environment": "nowhere", "key": "k",
                                      "action": "create", "fields": []}]},
])
def test_from_dict_rejects_malformed_documents(bad: dict[str, object]) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        document.from_dict(bad)


def test_fingerprints_ignore_list_order_but_see_writes() -> None:
    client = {"client_id": "id-1", "scopes": ["b", "a"], "client_name": "A",
              "last_updated": "t1"}
    same = {**client, "scopes": ["a", "b"], "created": "ignored"}
    assert fingerprint(client) == fingerprint(same)
    assert fingerprint(client) != fingerprint({**client, "last_updated": "t2"})
    assert fingerprint(client) != fingerprint({**client, "active": False})


def test_snapshot_fingerprints_include_the_key_set_when_read() -> None:
    keys = [{"kid": "k1", "n": "n1", "exp": 1}]
    snap = LiveSnapshot(clients=[], jwks={"id-1": keys})
    out = snap.fingerprints({"client_id": "id-1"})
    assert out["id-1" + JWKS_SUFFIX] == jwks_fingerprint(keys)
    assert set(LiveSnapshot(clients=[]).fingerprints({"client_id": "id-2"})) == {"id-2"}
