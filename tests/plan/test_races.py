"""selvsync.plan.races: which twins racing applies made, which one stays, who retires the rest."""

from __future__ import annotations

from typing import Any

from selvsync.marker import Marker, compose
from selvsync.plan.races import find_twins

OWNER = "team-a"


def _client(cid: str, key: str, created: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": cid,
        "description": compose("x", Marker(OWNER, key)),
        "created": created,
        "active": True,
        "token_endpoint_auth_method": "private_key_jwt",
        **extra,
    }


T0 = "2026-11-25T10:00:00.000+01:00"
T1 = "2026-11-25T10:00:00.250+01:00"


def test_the_earliest_is_kept_and_each_run_retires_only_its_own() -> None:
    clients = [_client("late", "a", T1), _client("early", "a", T0)]
    (mine,) = find_twins(clients, OWNER, created_here={"late"})
    assert (mine.kept, mine.others, mine.retire) == ("early", ("late",), ("late",))
    (theirs,) = find_twins(clients, OWNER, created_here={"early"})
    assert (theirs.kept, theirs.others, theirs.retire) == ("early", ("late",), ())


def test_equal_creation_times_are_ordered_by_client_id() -> None:
    clients = [_client("b-id", "a", T0), _client("a-id", "a", T0)]
    (twins,) = find_twins(clients, OWNER, created_here={"b-id"})
    assert (twins.kept, twins.retire) == ("a-id", ("b-id",))


def test_timestamps_in_different_offsets_compare_as_instants() -> None:
    # 09:00:00.100Z is later than 10:00:00.000+01:00.
    clients = [_client("utc", "a", "2026-11-25T09:00:00.100+00:00"), _client("oslo", "a", T0)]
    (twins,) = find_twins(clients, OWNER, created_here={"utc"})
    assert (twins.kept, twins.retire) == ("oslo", ("utc",))


def test_an_old_look_alike_is_not_a_race() -> None:
    # Someone copied the marker onto a client a day ago: a person resolves that.
    clients = [_client("old", "a", "2026-11-24T10:00:00.000+01:00"), _client("new", "a", T0)]
    assert find_twins(clients, OWNER, created_here={"new"}) == []


def test_twins_this_run_did_not_create_are_not_its_business() -> None:
    clients = [_client("x", "a", T0), _client("y", "a", T1)]
    assert find_twins(clients, OWNER, created_here={"someone-else"}) == []


def test_secret_clients_are_never_retired() -> None:
    clients = [
        _client("early", "a", T0, token_endpoint_auth_method="client_secret_basic"),
        _client("late", "a", T1, token_endpoint_auth_method="client_secret_basic"),
    ]
    (twins,) = find_twins(clients, OWNER, created_here={"late"})
    assert twins.has_secret and twins.mine == ("late",) and twins.retire == ()


def test_deactivated_clients_other_owners_and_missing_times_are_left_out() -> None:
    clients = [
        _client("early", "a", T0),
        _client("gone", "a", T1, active=False),
        {**_client("foreign", "a", T1), "description": compose("x", Marker("team-b", "a"))},
        _client("b1", "b", T0),
        _client("b2", "b", "not a time"),
    ]
    assert find_twins(clients, OWNER, created_here={"gone", "foreign", "b2"}) == []
