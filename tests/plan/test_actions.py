"""The action table (selvsync.plan.actions.ACTIONS): complete, and the only one.

Pure: no emulator. Later moves to tests/plan/test_actions.py.
"""

from __future__ import annotations

import dataclasses
from typing import cast

import pytest

from selvsync.plan import document
from selvsync.plan.actions import (
    ACTIONS,
    Action,
    ActionSpec,
    always_counted,
    apply_phases,
    destructive,
    phrase_order,
    render_order,
)
from selvsync.plan.changes import Change, EnvironmentPlan, Plan
from selvsync.render import render_markdown, render_text
from selvsync.render.text import _SGR


def test_every_action_has_a_row() -> None:
    assert set(ACTIONS) == set(Action)


@pytest.mark.parametrize("action", list(Action))
def test_every_row_is_complete(action: Action) -> None:
    row = ACTIONS[action]
    for f in dataclasses.fields(ActionSpec):
        value = getattr(row, f.name)
        assert value is not None, f.name
        if isinstance(value, str):
            assert value.strip(), f"{action}: empty {f.name}"
    assert row.symbol.isascii() and len(row.symbol) <= 3  # the text layout pads to three
    assert row.phrase.startswith("to ")
    assert row.colour in _SGR
    assert row.apply_phase > 0


def test_ranks_are_unique() -> None:
    assert len({s.render_rank for s in ACTIONS.values()}) == len(ACTIONS)
    assert len({s.phrase_rank for s in ACTIONS.values()}) == len(ACTIONS)


def test_orders_and_phases_are_the_documented_ones() -> None:
    A = Action
    assert render_order() == [A.DEACTIVATE, A.SCOPE_DEACTIVATE, A.REVOKE, A.ONBEHALFOF_DELETE,
                              A.REPLACE, A.CREATE, A.SCOPE_CREATE, A.SCOPE_REACTIVATE,
                              A.ONBEHALFOF_CREATE, A.ADOPT, A.RENAME, A.UPDATE, A.SCOPE_UPDATE,
                              A.GRANT, A.ONBEHALFOF_UPDATE, A.UPDATE_KEYS, A.ROTATE_SECRET,
                              A.MERCHANT]
    assert phrase_order() == [A.CREATE, A.UPDATE, A.REPLACE, A.DEACTIVATE, A.ADOPT, A.RENAME,
                              A.UPDATE_KEYS, A.ROTATE_SECRET, A.MERCHANT, A.SCOPE_DEACTIVATE,
                              A.SCOPE_CREATE, A.SCOPE_REACTIVATE, A.SCOPE_UPDATE, A.GRANT,
                              A.REVOKE, A.ONBEHALFOF_CREATE, A.ONBEHALFOF_UPDATE,
                              A.ONBEHALFOF_DELETE]
    # Scopes before clients (a client may declare a scope made in the same apply); grants
    # after their scopes; revocations and deactivations last.
    assert [set(p) for p in apply_phases()] == [
        {A.SCOPE_CREATE, A.SCOPE_REACTIVATE, A.SCOPE_UPDATE}, {A.CREATE, A.GRANT},
        {A.ADOPT, A.RENAME, A.UPDATE}, {A.UPDATE_KEYS, A.ROTATE_SECRET}, {A.REPLACE},
        {A.MERCHANT, A.ONBEHALFOF_CREATE, A.ONBEHALFOF_UPDATE},
        {A.DEACTIVATE, A.SCOPE_DEACTIVATE, A.REVOKE, A.ONBEHALFOF_DELETE},
    ]
    assert destructive() == [A.DEACTIVATE, A.SCOPE_DEACTIVATE, A.REVOKE, A.ONBEHALFOF_DELETE,
                             A.REPLACE]
    assert always_counted() == {A.CREATE, A.UPDATE, A.REPLACE, A.DEACTIVATE}


# --- a new row is enough ---------------------------------------------------------------------

ARCHIVE = cast(Action, "archive")  # not an Action member: stands for one added later
ARCHIVE_ROW = ActionSpec(
    "@", "to archive", "Archive", "cyan", apply_phase=8, render_rank=20, phrase_rank=20,
    destructive=True,
)


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch) -> Plan:
    monkeypatch.setitem(ACTIONS, ARCHIVE, ARCHIVE_ROW)
    env = EnvironmentPlan("test", changes=[Change("test", "old-app", ARCHIVE, "id-9")])
    return Plan("991825827", "minside", [env])


def test_a_new_row_reaches_summary_and_apply_order(archive: Plan) -> None:
    assert archive.summary()["archive"] == 1
    assert archive.environments[0].summary()["create"] == 0
    assert archive.changes[0].destructive
    assert apply_phases()[-1] == (ARCHIVE,)
    assert document.plan_document(archive)["summary"]["archive"] == 1


def test_a_new_row_reaches_the_text_renderer(archive: Plan) -> None:
    text = render_text(archive, color=True)
    assert "DESTRUCTIVE" in text and "1 to archive" in text
    assert "\x1b[36m@   archive\x1b[0m" in text


def test_a_new_row_reaches_the_markdown_renderer(archive: Plan) -> None:
    markdown = render_markdown(archive)
    assert "| Merchant | Archive | Status |" in markdown
    assert "<code>@</code> <b>archive</b>" in markdown
    assert "<details open>" in markdown  # destructive blocks start open


def test_a_changed_row_changes_every_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    row = dataclasses.replace(ACTIONS[Action.ADOPT], symbol="<<", phrase="to take over",
                              title="Take over")
    monkeypatch.setitem(ACTIONS, Action.ADOPT, row)
    env = EnvironmentPlan("test", changes=[Change("test", "app", Action.ADOPT, "id-1")])
    plan = Plan("991825827", "minside", [env])
    assert "<<  adopt" in render_text(plan, color=False)
    assert "1 to take over" in render_text(plan, color=False)
    assert "| Take over |" in render_markdown(plan)
