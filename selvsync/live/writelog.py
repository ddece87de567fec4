"""What a run wrote, so that a lagging listing is not mistaken for work left to do."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any


class WriteLog:
    """What this run wrote, as the API answered each write.

    A listing may lag behind writes (the emulator models it; Digdir documents nothing either
    way). The check after apply must not mistake a lagging listing for work left to do, and
    so, for the clients this run wrote, the newer of the listed and the written version wins.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_env: dict[str, dict[str, dict[str, Any]]] = {}
        self._created: dict[str, set[str]] = {}
        self._replacing: dict[str, set[str]] = {}

    def record(
        self, env: str, client: dict[str, Any], *, created: bool = False, replacing: bool = False
    ) -> None:
        cid = str(client["client_id"])
        with self._lock:
            self._by_env.setdefault(env, {})[cid] = dict(client)
        if created:
            self.mark_created(env, cid, replacing=replacing)

    def mark_created(self, env: str, client_id: str, *, replacing: bool = False) -> None:
        """``client_id`` was made by this run (``replacing``: as the new client of a replace,
        which carries the old one's marker on purpose: never a racing apply's twin)."""
        with self._lock:
            self._created.setdefault(env, set()).add(client_id)
            if replacing:
                self._replacing.setdefault(env, set()).add(client_id)

    def created(self, env: str) -> set[str]:
        """The ids of the clients this run created in ``env``."""
        with self._lock:
            return set(self._created.get(env, ()))

    def replacements(self, env: str) -> set[str]:
        """The ids of the clients this run created to replace another."""
        with self._lock:
            return set(self._replacing.get(env, ()))

    def pending(self, env: str, listed: list[dict[str, Any]]) -> list[str]:
        """This run's writes the listing does not show yet, in words (sorted).

        A create shows when its client is listed; a deactivation when its client is listed
        inactive (or not at all); an update when the listed version is at least as new."""
        with self._lock:
            written = dict(self._by_env.get(env, {}))
        shown = {str(c.get("client_id")): c for c in listed}
        out: list[str] = []
        for cid, mine in sorted(written.items()):
            seen = shown.get(cid)
            if mine.get(_GONE):
                if seen is not None and seen.get("active") is not False:
                    out.append(f"{cid} still listed as active")
            elif seen is None:
                out.append(f"{cid} not listed yet")
            elif _stamp(seen) < _stamp(mine):
                out.append(f"{cid} listed in an older version")
        return out

    def deactivated(self, env: str, client_id: str) -> None:
        with self._lock:
            known = self._by_env.setdefault(env, {}).get(client_id, {"client_id": client_id})
            self._by_env[env][client_id] = {**known, "active": False, _GONE: True}

    def merge(self, env: str, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self._lock:
            written = dict(self._by_env.get(env, {}))
        if not written:
            return listed
        out: list[dict[str, Any]] = []
        for client in listed:
            mine = written.pop(str(client.get("client_id")), None)
            out.append(client if mine is None else _newer(client, mine))
        # Written but not listed yet: a create the listing has not caught up with.
        out.extend(
            {k: v for k, v in c.items() if k != _GONE} for c in written.values() if not c.get(_GONE)
        )
        return out


_GONE = "_deactivated_in_this_run"


def _newer(listed: dict[str, Any], mine: dict[str, Any]) -> dict[str, Any]:
    if mine.get(_GONE):
        return {**listed, "active": False}
    if _stamp(listed) > _stamp(mine):
        return listed  # written again since, by someone else: theirs is the live state
    # onbehalfof entries are written on their own paths and never move the client's
    # last_updated: the listing's are newer than any a client write answered with.
    out = {k: v for k, v in mine.items() if k != "onbehalfof"}
    if "onbehalfof" in listed:
        out["onbehalfof"] = listed["onbehalfof"]
    return out


def _stamp(client: dict[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(client.get("last_updated"))).timestamp()
    except ValueError:
        return 0.0
