"""Twins: active clients with one marker that applies running at the same time created.

The apply lock serialises runs in one checkout. Two checkouts (two CI runners) applying one
plan at once both create each client, and each run's check after apply then sees two active
clients carrying one marker. Every run applies the same rule, with no coordination:

* the twins were all created within ``RACE_WINDOW`` of each other (older look-alikes were not
  made by a racing apply: someone copied a marker, say; a person resolves those);
* the earliest created (then the smallest ``client_id``) is kept;
* a run deactivates only twins *it created itself*, after its own work on them is done, so
  it never pulls a client from under another run that is still registering its keys.

Clients with a secret are left to a person: both runs have sent their secret to their sink,
and whichever wrote last may hold the secret of the twin that goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from selvsync.marker import index_managed
from selvsync.rules.fields import SECRET_METHODS

RACE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Twins:
    """The active clients of one marker key that racing applies created."""

    key: str
    kept: str  # client_id of the earliest created
    others: tuple[str, ...]  # the later ones, oldest first
    mine: tuple[str, ...]  # of ``others``, those this run created: it deactivates them
    has_secret: bool

    @property
    def retire(self) -> tuple[str, ...]:
        """What this run deactivates: its own later twins, never a client with a secret."""
        return () if self.has_secret else self.mine


def find_twins(
    clients: Iterable[Mapping[str, Any]],
    owner: str,
    created_here: set[str],
    replacing: set[str] | frozenset[str] = frozenset(),
) -> list[Twins]:
    """Groups of active twins one of which this run created (``created_here``: ids).

    A client this run created to replace another (``replacing``) carries the old one's
    marker on purpose: its group is a replace in progress, never a race. Nor are clients of
    different integration types twins (racing applies create identical clients)."""
    groups = index_managed(clients, owner)
    found: list[Twins] = []
    for key, group in sorted(groups.items()):
        ids = {str(c.get("client_id")) for c in group}
        if len(group) < 2 or not ids & created_here or ids & replacing:
            continue
        if len({str(c.get("integration_type")) for c in group}) > 1:
            continue
        stamped = [(_created(c), str(c.get("client_id")), c) for c in group]
        if any(when is None for when, _, _ in stamped):
            continue  # no creation time to order by: a person decides
        ordered = sorted(stamped, key=lambda item: (item[0], item[1]))
        first, last = ordered[0][0], ordered[-1][0]
        assert first is not None and last is not None
        if last - first > RACE_WINDOW:
            continue
        others = tuple(cid for _, cid, _ in ordered[1:])
        found.append(
            Twins(
                key=key,
                kept=ordered[0][1],
                others=others,
                mine=tuple(cid for cid in others if cid in created_here),
                has_secret=any(
                    c.get("token_endpoint_auth_method") in SECRET_METHODS for _, _, c in ordered
                ),
            )
        )
    return found


def _created(client: Mapping[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(client.get("created")))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None  # Digdir writes an offset; else unsure
