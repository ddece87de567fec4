"""Reading live state: one listing per environment, plus only the key sets a plan needs.

Requests are kept to the minimum: one ``GET /clients?inactive=true`` per environment (it holds
active and deactivated clients, so the plan can say when a declared client was deactivated),
plus ``GET /jwks`` only for live clients whose YAML declares keys and whose marker does not
vouch for their key set (selvsync.plan.keys.vouched: the marker records the set apply last
registered; ``refresh`` reads every declared set, to find keys changed in the portal).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from selvsync.api.client import DigdirClient
from selvsync.api.errors import NotFoundError
from selvsync.gcpause import paused_gc
from selvsync.live.checks import check_listing
from selvsync.live.writelog import WriteLog
from selvsync.marker import classify_owner, parse
from selvsync.model import DesiredClient, DesiredState
from selvsync.plan import keys as keyplan
from selvsync.plan.changes import LiveSnapshot


def list_all(client: DigdirClient) -> list[dict[str, Any]]:
    """Every client, deactivated ones included: the one listing a plan reads."""
    with paused_gc():  # decoding thousands of clients: see selvsync.gcpause
        clients = client.list_clients(inactive=True)
    check_listing(clients, f"GET {client.prefix}/clients")
    return clients


def read_live(
    client: DigdirClient,
    state: DesiredState,
    owner: str,
    written: WriteLog | None = None,
    listed: list[dict[str, Any]] | None = None,
    *,
    refresh: bool = False,
    now: float | None = None,
) -> LiveSnapshot:
    """The listing (``listed`` if already read), plus the key sets the plan needs: those of
    declared clients with keys, except where the marker vouches for the set (``refresh``:
    every one of them)."""
    clients = list_all(client) if listed is None else listed
    if state.shared_keys:
        clients = _without_siblings(clients, state.shared_keys, owner)
    if written is not None:
        clients = written.merge(state.environment.name, clients)
    concurrency = state.environment.concurrency
    wanted = _ids_needing_keys(clients, state, owner)
    vouched = (
        frozenset()
        if refresh
        else vouched_ids(clients, state, owner, wanted, time.time() if now is None else now)
    )
    wanted = [cid for cid in wanted if cid not in vouched]
    snapshot = LiveSnapshot(clients, read_jwks(client, wanted, concurrency), vouched=vouched)
    if state.environment.merchant_api and client.has_merchant_api and _declares_merchant(state):
        ids = _ids_of_declared(
            clients, state, owner, lambda c: c.merchant is not None and not c.merchant.empty
        )
        if client.merchant_list_path is not None:
            everything = client.list_merchant()
            snapshot.merchant = {cid: everything[cid] for cid in ids if cid in everything}
        else:
            snapshot.merchant = _read_each(client.get_merchant, ids, concurrency)
    return snapshot


def _declares_merchant(state: DesiredState) -> bool:
    return any(c.merchant is not None and not c.merchant.empty for c in state.clients.values())


def read_snapshot(client: DigdirClient, jwks_ids: list[str], concurrency: int) -> LiveSnapshot:
    """The listing plus the named key sets (to re-check a saved plan)."""
    clients = list_all(client)
    present = {str(c.get("client_id")) for c in clients}
    wanted = [cid for cid in jwks_ids if cid in present]
    return LiveSnapshot(clients, read_jwks(client, wanted, concurrency))


def read_jwks(
    client: DigdirClient, ids: list[str], concurrency: int
) -> dict[str, list[dict[str, Any]]]:
    def one(cid: str) -> dict[str, Any]:
        try:
            return client.get_jwks(cid)
        except NotFoundError:
            return {}  # no key set registered: some API versions answer 404, not {"keys": []}

    bodies = _read_each(one, ids, concurrency)
    return {
        cid: [k for k in (body.get("keys") or []) if isinstance(k, dict)]
        for cid, body in bodies.items()
    }


def _read_each(
    read: Callable[[str], dict[str, Any]], ids: list[str], concurrency: int
) -> dict[str, dict[str, Any]]:
    """One GET per id, bounded in parallel."""
    if not ids:
        return {}
    workers = max(1, min(concurrency, len(ids)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read") as pool:
        return dict(zip(ids, pool.map(read, ids), strict=True))


def _ids_needing_keys(
    clients: Iterable[dict[str, Any]], state: DesiredState, owner: str
) -> list[str]:
    return _ids_of_declared(clients, state, owner, lambda c: bool(c.key_files))


def vouched_ids(
    clients: Iterable[dict[str, Any]],
    state: DesiredState,
    owner: str,
    candidates: list[str],
    now: float,
) -> frozenset[str]:
    """The ``candidates`` (declared clients with keys) whose key set need not be read: the
    only active client carrying our marker for a declared key, and the marker's ``j=`` shows
    exactly the declared keys, none expiring within the warning window. Adoptions, renames,
    previous owners' clients and twins are always read."""
    wanted = set(candidates)
    if not wanted:
        return frozenset()
    days = state.environment.key_expiry_warning_days
    active: Counter[str] = Counter()
    mine: list[tuple[str, str, str | None]] = []
    for live in clients:
        if live.get("active") is False:
            continue
        marker, _ = classify_owner(live.get("description"), owner)
        if marker is None:
            continue
        active[marker.key] += 1
        cid = str(live.get("client_id"))
        if cid in wanted:
            mine.append((cid, marker.key, marker.keys))
    out = set()
    for cid, key, recorded in mine:
        declared = state.clients.get(key)
        if declared is None or active[key] != 1:
            continue
        if declared.client_id and str(declared.client_id) != cid:
            continue
        if keyplan.vouched(recorded, declared.keys, now=now, expiry_warning_days=days):
            out.add(cid)
    return frozenset(out)


def _ids_of_declared(
    clients: Iterable[dict[str, Any]],
    state: DesiredState,
    owner: str,
    wants: Callable[[DesiredClient], bool],
) -> list[str]:
    """Active live clients that are (or will be adopted as) declared clients matching ``wants``."""
    with_keys = {key for key, c in state.clients.items() if wants(c)}
    adopt_ids = {c.client_id: key for key, c in state.clients.items() if c.client_id}
    # A rename (renamed_from) or an owner change (previous_owners) reads the old marker's.
    renamed = {c.renamed_from: key for key, c in state.clients.items() if c.renamed_from}
    out: list[str] = []
    for live in clients:
        if live.get("active") is False:
            continue
        cid = str(live.get("client_id"))
        marker, _ = classify_owner(live.get("description"), owner)
        if marker is None:
            _, held = parse(live.get("description"))
            if held is not None and held.owner in state.previous_owners:
                marker = held
        key = adopt_ids.get(cid) or (marker.key if marker is not None else None)
        if key is not None and key not in state.clients:
            key = renamed.get(key, key)
        if key is not None and key in with_keys:
            out.append(cid)
    return sorted(out)


def _without_siblings(
    clients: list[dict[str, Any]], keys: frozenset[str], owner: str
) -> list[dict[str, Any]]:
    """The listing without the clients of environments that share this live organisation."""
    out = []
    for live in clients:
        marker, _ = classify_owner(live.get("description"), owner)
        if marker is None or marker.key not in keys:
            out.append(live)
    return out
