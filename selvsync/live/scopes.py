"""Reading scopes and access lists for a plan, and re-reading them for a saved plan.

Cost of a plan of P declared scopes: at most four listings, each only when needed (``GET
/prefix`` and ``GET /scopes?inactive=true`` for a provider; ``GET /scopes/access/all`` and, if
some client scope is still unexplained, ``GET /scopes/all?accessible_for_all=true`` for the
consumer check), plus one ``GET /scopes/access?scope=S`` per declared scope that exists,
read in parallel (bounded by the environment's ``concurrency``). So at most 4 + P requests.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from selvsync.api.client import DigdirClient
from selvsync.api.scopes import ScopesApi
from selvsync.model import DesiredState
from selvsync.plan import scopes as scopeplan
from selvsync.plan.changes import EnvironmentPlan
from selvsync.plan.scopes import ScopeSnapshot


def wanted(state: DesiredState) -> bool:
    """Whether a plan of ``state`` reads anything about scopes at all."""
    return scopeplan.is_provider(state) or bool(scopeplan.consumer_scopes(state))


def read_scopes(client: DigdirClient, state: DesiredState) -> ScopeSnapshot:
    api = ScopesApi(client)
    snap = ScopeSnapshot()
    if scopeplan.is_provider(state):
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="scopes") as pool:
            prefixes = pool.submit(api.list_prefixes)
            listing = pool.submit(api.list_scopes)
            snap.scopes = listing.result()
            snap.prefixes = prefixes.result()
        names = scopeplan.access_to_read(state, snap.scopes)
        snap.access = _read_each(api.list_access, names, state.environment.concurrency)
    if scopeplan.consumer_scopes(state):
        snap.consumer_access = api.consumer_access()
        if scopeplan.unresolved(state, snap):
            snap.open_scopes = api.open_scopes()
    return snap


def plan_scopes(
    client: DigdirClient, state: DesiredState, plan: EnvironmentPlan
) -> ScopeSnapshot | None:
    """Read what the plan of ``state`` needs, add the scope changes to ``plan``, and return
    what was read (None: nothing, the environment neither provides nor checks scopes)."""
    if not wanted(state):
        return None
    snap = read_scopes(client, state)
    if scopeplan.is_provider(state):
        scopeplan.plan_scopes(plan, state, snap)
    scopeplan.check_consumers(plan, state, snap)
    return snap


def moved(
    client: DigdirClient, saved: EnvironmentPlan, snap: ScopeSnapshot | None, concurrency: int
) -> list[str]:
    """What moved among the scopes and access lists ``saved`` read, in words. Reuses the
    fresh plan's reads (``snap``) and reads only what it lacks."""
    if not saved.scope_fingerprints:
        return []
    api = ScopesApi(client)
    if snap is None or snap.prefixes is None:
        snap = ScopeSnapshot(scopes=api.list_scopes())
    lacking = [n for n in scopeplan.access_names(saved) if n not in snap.access]
    access = dict(snap.access) | _read_each(api.list_access, lacking, concurrency)
    return scopeplan.moved(saved, ScopeSnapshot(scopes=snap.scopes, access=access))


def _read_each(
    read: Callable[[str], list[dict[str, Any]]], names: list[str], concurrency: int
) -> dict[str, list[dict[str, Any]]]:
    """One GET per scope, bounded in parallel."""
    if not names:
        return {}
    workers = max(1, min(concurrency, len(names)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scope-access") as pool:
        return dict(zip(names, pool.map(read, names), strict=True))
