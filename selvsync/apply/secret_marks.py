"""The ``s=1`` mark (secret pending) around every request that makes Digdir issue a secret.

Order, for a create or a rotation: write the mark (in the POST body, or a PUT before the
rotation), get the secret, hand it to the sink, then clear the mark. If the sink fails, or the
process dies (``kill -9``, SIGTERM) anywhere in between, the mark stays on the live client,
and every later plan shows ``rotate-secret`` for it until a rotation reaches the sink: a lost
secret is never silent, and no state file is needed to remember it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from selvsync.marker import compose, parse


def with_pending(
    body: Mapping[str, Any], pending: bool, rotated: str | None = None
) -> dict[str, Any]:
    """``body`` with the secret-pending mark set or cleared (and the rotation date, if given).

    A body without our marker is returned unchanged (a client selvsync does not manage)."""
    out = dict(body)
    human, marker = parse(out.get("description"))
    if marker is None:
        return out
    marker = marker.with_(secret_pending=pending)
    if rotated is not None:
        marker = marker.with_(rotated=rotated)
    out["description"] = compose(human, marker)
    return out


def is_pending(body: Mapping[str, Any]) -> bool:
    _, marker = parse(body.get("description"))
    return bool(marker and marker.secret_pending)
