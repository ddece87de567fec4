"""Read live state and build plans: one listing per environment, environments in parallel.

Requests are kept to the minimum: one ``GET /clients?inactive=true`` per environment (it holds
active and deactivated clients, so the plan can say when a declared client was deactivated),
plus ``GET /jwks`` only for live clients whose YAML declares keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from selvsync.api.client import DigdirClient
from selvsync.api.connect import ClientFactory
from selvsync.api.errors import NotFoundError
from selvsync.apply.races import Twins, find_twins
from selvsync.config import load_project
from selvsync.errors import StalePlanError
from selvsync.gcpause import paused_gc
from selvsync.marker import classify_owner
from selvsync.model import DesiredClient, DesiredState, Project
from selvsync.plan import planfile
from selvsync.plan.builder import build_environment_plan
from selvsync.plan.changes import (
    EnvironmentPlan,
    LiveSnapshot,
    Plan,
    PlanOptions,
)


@dataclass
class Session:
    """One run: one API client (and so one token) per environment, reused by every step."""

    project: Project
    factory: ClientFactory
    command: str = "plan"
    written: WriteLog = field(default_factory=lambda: WriteLog())
    _clients: dict[str, DigdirClient] = field(default_factory=dict)
    _prefetched: dict[str, Future[list[dict[str, Any]]]] = field(default_factory=dict)

    def client(self, env: str) -> DigdirClient:
        if env not in self._clients:
            self._clients[env] = self.factory(self.project.environments[env], self.command)
        return self._clients[env]

    def prefetch_listings(self, names: Iterable[str]) -> None:
        """Start each environment's listing (and so its token request) in the background.

        Called while the environment files are still loading: the network wait overlaps the
        CPU work. The first listing() of an environment takes the result; later ones read
        afresh. The threads are daemons: when loading fails, nobody waits for them.
        """
        for name in names:
            client = self.client(name)  # opened here: factories need not be thread-safe
            future: Future[list[dict[str, Any]]] = Future()

            def read(client: DigdirClient = client, future: Future[Any] = future) -> None:
                try:
                    future.set_result(list_all(client))
                except Exception as exc:  # handed to whoever takes the listing
                    future.set_exception(exc)

            threading.Thread(target=read, name=f"prefetch-{name}", daemon=True).start()
            self._prefetched[name] = future

    def listing(self, env: str) -> list[dict[str, Any]]:
        """All clients of ``env``, deactivated ones included: prefetched once, then fresh."""
        future = self._prefetched.pop(env, None)
        if future is not None:
            return future.result()
        return list_all(self.client(env))

    def close(self) -> None:
        self._prefetched.clear()
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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

    def record(self, env: str, client: dict[str, Any], *, created: bool = False) -> None:
        cid = str(client["client_id"])
        with self._lock:
            self._by_env.setdefault(env, {})[cid] = dict(client)
            if created:
                self._created.setdefault(env, set()).add(cid)

    def created(self, env: str) -> set[str]:
        """The ids of the clients this run created in ``env``."""
        with self._lock:
            return set(self._created.get(env, ()))

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
    return mine


def _stamp(client: dict[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(client.get("last_updated"))).timestamp()
    except ValueError:
        return 0.0


def list_all(client: DigdirClient) -> list[dict[str, Any]]:
    """Every client, deactivated ones included: the one listing a plan reads."""
    with paused_gc():  # decoding thousands of clients: see selvsync.gcpause
        return client.list_clients(inactive=True)


def read_live(
    client: DigdirClient,
    state: DesiredState,
    owner: str,
    written: WriteLog | None = None,
    listed: list[dict[str, Any]] | None = None,
) -> LiveSnapshot:
    """The listing (``listed`` if already read), plus the key sets the plan needs."""
    clients = list_all(client) if listed is None else listed
    if written is not None:
        clients = written.merge(state.environment.name, clients)
    concurrency = state.environment.concurrency
    wanted = _ids_needing_keys(clients, state, owner)
    snapshot = LiveSnapshot(clients, read_jwks(client, wanted, concurrency))
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


def _ids_of_declared(
    clients: Iterable[dict[str, Any]],
    state: DesiredState,
    owner: str,
    wants: Callable[[DesiredClient], bool],
) -> list[str]:
    """Active live clients that are (or will be adopted as) declared clients matching ``wants``."""
    with_keys = {key for key, c in state.clients.items() if wants(c)}
    adopt_ids = {c.client_id: key for key, c in state.clients.items() if c.client_id}
    out: list[str] = []
    for live in clients:
        if live.get("active") is False:
            continue
        cid = str(live.get("client_id"))
        marker, _ = classify_owner(live.get("description"), owner)
        key = marker.key if marker is not None else adopt_ids.get(cid)
        if key is not None and key in with_keys:
            out.append(cid)
    return sorted(out)


def load_and_connect(
    directory: Path,
    only: list[str] | None,
    factory_for: Callable[[Project], ClientFactory],
    command: str,
    stack: ExitStack,
    *,
    guard: Callable[[Project], AbstractContextManager[object]] | None = None,
    prefetch: bool = True,
) -> Session:
    """Load the project and open a Session on it, the listings already on their way.

    As soon as selvsync.yaml is valid, ``guard(project)`` is entered (apply's lock: before any
    read, so the listing is never older than the lock) and each selected environment's
    listing is requested; the environment files load and validate meanwhile. A ConfigError
    propagates as from load_project, and ``stack`` closes whatever was opened.
    """
    opened: list[Session] = []

    def connect(project: Project, selected: list[str]) -> None:
        if guard is not None:
            stack.enter_context(guard(project))
        session = stack.enter_context(Session(project, factory_for(project), command))
        if prefetch:
            session.prefetch_listings(selected)
        opened.append(session)

    load_project(directory, only, on_settings=connect)
    return opened[0]


def plan_environment(
    session: Session, name: str, options: PlanOptions | None = None
) -> tuple[EnvironmentPlan, LiveSnapshot]:
    state = session.project.states[name]
    client = session.client(name)
    live = read_live(client, state, session.project.owner, session.written, session.listing(name))
    return build_environment_plan(state, session.project.owner, live, options), live


def plan_project(
    session: Session, names: Iterable[str] | None = None, options: PlanOptions | None = None
) -> Plan:
    """Plan every (or the named) environment, concurrently; order follows selvsync.yaml."""
    project = session.project
    selected = [n for n in project.states if names is None or n in set(names)]
    for name in selected:
        session.client(name)  # open clients up front: factories need not be thread-safe
    with ThreadPoolExecutor(max_workers=max(1, len(selected)), thread_name_prefix="plan") as pool:
        results = list(pool.map(lambda n: plan_environment(session, n, options)[0], selected))
    return Plan(project.orgno, project.owner, results)


@dataclass(frozen=True)
class Retired:
    """A twin this run created and then deactivated, because a racing apply's came first."""

    environment: str
    key: str
    kept: str
    retired: str


@dataclass
class AfterApply:
    """The check after an apply: what is left, and what it did about racing applies."""

    plan: Plan
    retired: list[Retired] = field(default_factory=list)
    # Twins this run did not deactivate: another run's (it retires them) or with a secret.
    twins: list[tuple[str, Twins]] = field(default_factory=list)


def check_after_apply(session: Session) -> AfterApply:
    """Plan again after an apply (what is left?), first deactivating this run's own twins.

    See selvsync.apply.races: when another apply created the same client at the same time, the
    earlier one is kept and the run that made the later one deactivates it. Costs nothing
    extra unless twins are found: the check's own listing is used.
    """
    project = session.project
    selected = list(project.states)
    for name in selected:
        session.client(name)  # open clients up front: factories need not be thread-safe

    def one(name: str) -> AfterApply:
        plan, live = plan_environment(session, name)
        found = AfterApply(Plan(project.orgno, project.owner, [plan]))
        if not plan.blockers:
            return found
        for twins in find_twins(live.clients, project.owner, session.written.created(name)):
            for cid in twins.retire:
                session.client(name).deactivate_client(cid)
                session.written.deactivated(name, cid)
                found.retired.append(Retired(name, twins.key, twins.kept, cid))
            if len(twins.retire) < len(twins.others):
                found.twins.append((name, twins))
        if found.retired:
            merged = session.written.merge(name, live.clients)
            live = LiveSnapshot(merged, live.jwks, live.merchant)
            plan = build_environment_plan(project.states[name], project.owner, live)
            found.plan = Plan(project.orgno, project.owner, [plan])
        return found

    with ThreadPoolExecutor(max_workers=max(1, len(selected)), thread_name_prefix="check") as pool:
        results = list(pool.map(one, selected))
    return AfterApply(
        Plan(project.orgno, project.owner, [env for r in results for env in r.plan.environments]),
        [done for r in results for done in r.retired],
        [pair for r in results for pair in r.twins],
    )


def load_fresh_plan(session: Session, path: Path) -> Plan:
    """Read a saved plan and check it against live state; StalePlanError if anything moved.

    Only the objects the plan read are re-read (the listing, plus the key sets it compared),
    so the check costs what the plan cost.
    """
    saved = planfile.read(path)
    project = session.project
    if (saved.orgno, saved.owner) != (project.orgno, project.owner):
        raise StalePlanError(
            f"{path} was made for orgno {saved.orgno} / owner {saved.owner}, "
            f"not {project.orgno} / {project.owner}"
        )
    snapshots = {}
    for env in saved.environments:
        if env.name not in project.states:
            raise StalePlanError(
                f"{path} holds environment '{env.name}', which is not selected or not declared"
            )
        snapshots[env.name] = read_snapshot(
            session.client(env.name),
            planfile.jwks_ids(env),
            project.environments[env.name].concurrency,
        )
    planfile.check_fresh(saved, snapshots)
    return saved
