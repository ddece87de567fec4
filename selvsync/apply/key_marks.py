"""The ``j=`` mark: the key set apply registered, recorded in the client's marker.

After every key write that succeeded, apply sends the client once more with the marker's
``j=`` set to the set the API answered (its digest and the date its earliest key expires,
selvsync.plan.keys.mark). Later plans then skip reading that client's key set while the
declared keys are unchanged and none expires soon. Order is what keeps it safe: the mark is
written only *after* the key write, so a failed write or a killed process leaves the old mark
(or none), which never matches the declared keys, and the next plan reads the set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from selvsync.marker import compose, parse
from selvsync.plan import keys as keyplan


def registered(
    answer: Mapping[str, Any] | None, sent: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The key set as the API answered its write (with each key's ``exp``), else as sent."""
    keys = answer.get("keys") if isinstance(answer, Mapping) else None
    if isinstance(keys, list) and keys and all(isinstance(k, dict) for k in keys):
        return keys
    return sent


def with_keys_mark(body: Mapping[str, Any], keys: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``body`` with ``j=`` recording ``keys``; None when it carries no marker of ours or
    already records exactly that (nothing to write)."""
    out = dict(body)
    human, marker = parse(out.get("description"))
    if marker is None:
        return None
    mark = keyplan.mark(keys)
    if marker.keys == mark:
        return None
    out["description"] = compose(human, marker.with_(keys=mark))
    return out
