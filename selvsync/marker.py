"""The identity marker selvsync writes into each client's ``description``.

Live state is the only state: the marker is how a later run, on any machine, finds the
clients this project made. It is short, ASCII, at the end of the description so the human
text before it stays readable for Digdir staff, and it survives the API's round trip:

    Innlogging til Min side [selvsync:v1 o=quickstart k=minside-web p=1 r=2026-11-24]

Fields: ``o`` owner id, ``k`` client key, optional ``p=1`` (protected: refuse deactivation even
after the client left the YAML), ``r`` (date the secret was last rotated by selvsync), ``m``
(digest of merchant data a person confirmed in the portal) and ``s=1`` (secret pending: apply
asked Digdir for a secret and has not yet seen it stored in the sink; written *before* the
request, cleared after the sink took the secret, so a failed sink or a killed process leaves
it set and every later plan rotates the secret until one reaches the sink), and ``j`` (the key
set selvsync last registered: a digest of its keys and the date the earliest of them expires,
``j=<digest>.<yyyymmdd>``; written by apply after each key write, so a plan reads a client's
key set only where the declared keys differ from it or expiry is near: see
selvsync.plan.keys.vouched).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

_MARKER = re.compile(r"\s*\[selvsync:v1((?: [a-z]=[A-Za-z0-9._-]+)*)\]\s*$")
_OTHER_SELVSYNC = re.compile(r"\[selvsync:[^\]]*\]")
# digdirator names clients "cluster:namespace:name" in the description.
_DIGDIRATOR = re.compile(r"^[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-]+$")


@dataclass(frozen=True)
class Marker:
    owner: str
    key: str
    protected: bool = False
    rotated: str | None = None
    merchant_digest: str | None = None
    secret_pending: bool = False
    keys: str | None = None  # j=: the registered key set, see selvsync.plan.keys.mark

    def render(self) -> str:
        parts = [f"o={self.owner}", f"k={self.key}"]
        if self.protected:
            parts.append("p=1")
        if self.rotated:
            parts.append(f"r={self.rotated}")
        if self.merchant_digest:
            parts.append(f"m={self.merchant_digest}")
        if self.secret_pending:
            parts.append("s=1")
        if self.keys:
            parts.append(f"j={self.keys}")
        return "[selvsync:v1 " + " ".join(parts) + "]"

    def with_(self, **changes: object) -> Marker:
        return replace(self, **changes)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=1 << 16)  # above the largest listing planned for (N = 20 000)
def parse(description: str | None) -> tuple[str, Marker | None]:
    """Split a description into the human text and our marker (None if there is none).

    Cached (the result is immutable): a plan asks about each live client several times."""
    text = description or ""
    match = _MARKER.search(text)
    if match is None:
        return text, None
    fields = dict(part.split("=", 1) for part in match.group(1).split())
    if "o" not in fields or "k" not in fields:
        return text, None
    marker = Marker(
        owner=fields["o"],
        key=fields["k"],
        protected=fields.get("p") == "1",
        rotated=fields.get("r"),
        merchant_digest=fields.get("m"),
        secret_pending=fields.get("s") == "1",
        keys=fields.get("j"),
    )
    return text[: match.start()], marker


def compose(human: str | None, marker: Marker) -> str:
    """The description to send: the human text, then the marker."""
    text = (human or "").strip()
    return f"{text} {marker.render()}" if text else marker.render()


class Ownership(StrEnum):
    MANAGED = "managed"  # our marker, declared
    ORPHANED = "orphaned"  # our marker, no longer declared: deactivate
    FOREIGN = "foreign"  # another owner's marker, or another tool's
    UNMARKED = "unmarked"  # nobody's


def classify_owner(description: str | None, owner: str) -> tuple[Marker | None, bool]:
    """Return (our marker or None, whether the client is foreign)."""
    _, marker = parse(description)
    if marker is not None:
        return (marker, False) if marker.owner == owner else (None, True)
    text = (description or "").strip()
    foreign = bool(_OTHER_SELVSYNC.search(text) or _DIGDIRATOR.match(text))
    return None, foreign


def index_managed(
    clients: Iterable[Mapping[str, Any]], owner: str
) -> dict[str, list[Mapping[str, Any]]]:
    """Active live clients carrying ``owner``'s marker, grouped by client key.

    The one way every step finds "our live client for key K": a group of more than one is a
    set of twins (see selvsync.plan.races), and each group keeps the listing's order.
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for client in clients:
        if client.get("active") is False:
            continue
        marker, _ = classify_owner(client.get("description"), owner)
        if marker is not None:
            groups.setdefault(marker.key, []).append(client)
    return groups
