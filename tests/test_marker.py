"""selvsync.marker: parsing, composing and the one index of our live clients by key."""

from __future__ import annotations

from selvsync.marker import Marker, compose, index_managed, parse


def _live(cid: str, description: str, *, active: bool = True) -> dict[str, object]:
    return {"client_id": cid, "description": description, "active": active}


def test_index_groups_active_clients_with_our_marker_by_key_in_listing_order() -> None:
    ours = Marker(owner="team", key="web")
    clients = [
        _live("1", compose("Web", ours)),
        _live("2", compose("Web (old)", ours), active=False),
        _live("3", compose("Someone else", Marker(owner="other", key="web"))),
        _live("4", "no marker at all"),
        _live("5", compose("Web twin", ours)),
        _live("6", compose("Api", Marker(owner="team", key="api"))),
    ]
    index = index_managed(clients, "team")
    assert {k: [c["client_id"] for c in v] for k, v in index.items()} == {
        "web": ["1", "5"],
        "api": ["6"],
    }


def test_compose_then_parse_round_trips() -> None:
    marker = Marker(owner="o", key="k", protected=True, rotated="2026-12-01")
    human, parsed = parse(compose("Innlogging", marker))
    assert (human, parsed) == ("Innlogging", marker)


def test_the_key_set_mark_round_trips_and_stays_short() -> None:
    marker = Marker(owner="o", key="k", keys="0123456789ab.20271231")
    text = compose("Maskinporten", marker)
    assert text.endswith("j=0123456789ab.20271231]")
    assert parse(text) == ("Maskinporten", marker)
    extra = len(marker.render()) - len(Marker(owner="o", key="k").render())
    assert extra == len(" j=") + 12 + len(".") + 8
