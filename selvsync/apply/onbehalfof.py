"""Carrying out onbehalfof entry changes (selvsync.plan.onbehalfof): every entry write is here.

The entry-writing token (``idporten:dcr/onbehalfof:write`` only) is asked for when the first
entry change of an environment runs, so an apply without entry changes never holds one, and
the client's own write token is never used for entries.
"""

from __future__ import annotations

import threading

from selvsync.api.client import DigdirClient
from selvsync.api.onbehalfof import OnBehalfOfApi
from selvsync.errors import SelvsyncError
from selvsync.plan.actions import Action
from selvsync.plan.changes import Change

ONBEHALFOF_ACTIONS = frozenset(
    {Action.ONBEHALFOF_CREATE, Action.ONBEHALFOF_UPDATE, Action.ONBEHALFOF_DELETE}
)


class OnBehalfOfWriter:
    """One environment's entry writes, on its DigdirClient's connections."""

    def __init__(self, client: DigdirClient) -> None:
        self._client = client
        self._api: OnBehalfOfApi | None = None
        self._lock = threading.Lock()

    def api(self) -> OnBehalfOfApi:
        with self._lock:
            if self._api is None:
                self._api = OnBehalfOfApi(self._client, write=True)
            return self._api

    def do(self, env: str, change: Change, client_id: str | None) -> str:
        """Carry out one entry change on ``client_id`` (the plan's, or the client this apply
        created for the key); returns the client_id."""
        if client_id is None or change.entry is None:
            raise SelvsyncError(
                f"{env}: {change.key}: no client to write onbehalfof {change.entry} to"
            )
        api = self.api()
        if change.action == Action.ONBEHALFOF_CREATE:
            assert change.body is not None
            api.create(client_id, change.body)
        elif change.action == Action.ONBEHALFOF_UPDATE:
            assert change.body is not None
            api.update(client_id, change.entry, change.body)
        elif change.action == Action.ONBEHALFOF_DELETE:
            api.delete(client_id, change.entry)
        else:  # pragma: no cover - ONBEHALFOF_ACTIONS lists exactly the branches above
            raise SelvsyncError(f"{env}: {change.key}: {change.action} is not an entry action")
        return client_id
