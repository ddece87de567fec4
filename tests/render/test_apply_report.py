"""The notes apply prints about clients that racing applies created twice."""

from __future__ import annotations

from selvsync.plan.changes import Plan
from selvsync.plan.races import Twins
from selvsync.plan.results import AfterApply, Retired
from selvsync.render.apply_report import twin_notes


def test_twin_notes_say_what_was_done_and_what_is_left() -> None:
    after = AfterApply(
        Plan("991825827", "team-a", []),
        retired=[Retired("test", "a", kept="early", retired="mine")],
        twins=[
            ("test", Twins("b", "b-early", ("b-late",), (), has_secret=False)),
            ("prod", Twins("s", "s-early", ("s-late", "s-mine"), ("s-mine",), has_secret=True)),
            ("test", Twins("c", "c-early", ("c-mine", "c-theirs"), ("c-mine",), False)),
        ],
    )
    notes = twin_notes(after)
    assert notes[0] == (
        "test: 'a' was also created by another apply running at the same time; kept early "
        "(created first) and deactivated this run's mine"
    )
    assert "test: 'b': another apply created b-late at the same time as b-early;" in notes[1]
    assert "Run `selvsync plan` to confirm." in notes[1]
    assert notes[2].startswith(
        "prod: 's' was created by more than one apply at the same time "
        "(s-early, s-late, s-mine) and has a secret: keep s-early"
    )
    assert "`selvsync rotate-secret`" in notes[2]
    # Its own twin c-mine was retired by this run: only the other run's is left to name.
    assert "another apply created c-theirs at the same time as c-early" in notes[3]
