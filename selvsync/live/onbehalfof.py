"""Reading onbehalfof entries for a plan.

The client object lists its entries in ``onbehalfof`` (Digdir's API; the emulator lists the
field only when there are entries), so the one listing a plan reads already holds them: a
no-change plan of a supplier's login clients costs **no request more**. Only a client that
declares `onbehalfof:` and whose listing object carries no ``onbehalfof`` field (none yet, or
an API that leaves it out of listings) is read with ``GET /clients/{id}/onbehalfof``, one
request per such client, in parallel. That choice is the cheaper one: per-client reads for
every declared client would cost N requests on every plan.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from selvsync.api.client import DigdirClient
from selvsync.api.onbehalfof import OnBehalfOfApi
from selvsync.live.read import _ids_of_declared
from selvsync.model import DesiredState
from selvsync.plan.changes import LiveSnapshot


def declares(state: DesiredState) -> bool:
    return any(c.onbehalfof is not None for c in state.clients.values())


def read_entries(client: DigdirClient, state: DesiredState, owner: str, live: LiveSnapshot,
                 also: list[str] | None = None) -> None:
    """Fill ``live.onbehalfof`` for the declared clients whose listing object has no
    ``onbehalfof`` field (and for ``also``: clients a saved plan compared)."""
    if not declares(state) and not also:
        return
    ids = _ids_of_declared(live.clients, state, owner, lambda c: c.onbehalfof is not None)
    ids = sorted(set(ids) | set(also or ()))
    by_id = {str(c.get("client_id")): c for c in live.clients}
    missing = [cid for cid in ids if cid in by_id and not isinstance(
        by_id[cid].get("onbehalfof"), list) and cid not in live.onbehalfof]
    if not missing:
        return
    api = OnBehalfOfApi(client)
    workers = max(1, min(state.environment.concurrency, len(missing)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="onbehalfof") as pool:
        live.onbehalfof.update(zip(missing, pool.map(api.list, missing), strict=True))
