"""Carrying out scope and access changes (selvsync.plan.scopes): every scope write is here.

The scope-writing token (``idporten:scopes.write``) is asked for only when the first scope
change of an environment runs, so an apply without scope changes never holds one.
"""

from __future__ import annotations

import threading

from selvsync.api.client import DigdirClient
from selvsync.api.errors import ConflictError
from selvsync.api.scopes import ScopesApi
from selvsync.errors import SelvsyncError
from selvsync.plan.actions import Action
from selvsync.plan.changes import Change

SCOPE_ACTIONS = frozenset(
    {
        Action.SCOPE_CREATE,
        Action.SCOPE_UPDATE,
        Action.SCOPE_REACTIVATE,
        Action.SCOPE_DEACTIVATE,
        Action.GRANT,
        Action.REVOKE,
    }
)


class ScopeWriter:
    """One environment's scope writes, on its DigdirClient's connections."""

    def __init__(self, client: DigdirClient) -> None:
        self._client = client
        self._api: ScopesApi | None = None
        self._lock = threading.Lock()

    def api(self) -> ScopesApi:
        with self._lock:
            if self._api is None:
                self._api = ScopesApi(self._client, write=True)
            return self._api

    def do(self, env: str, change: Change) -> str:
        """Carry out one scope change; returns the scope's name."""
        api = self.api()
        name = change.key
        action = change.action
        if action == Action.SCOPE_CREATE:
            assert change.body is not None
            try:
                api.create_scope(change.body)
            except ConflictError:
                # Exists already (an answer lost on the way, or a deactivated twin): the
                # check after apply plans again and says what is left.
                raise SelvsyncError(
                    f"{env}: scope {name} already exists (perhaps deactivated); run "
                    "`selvsync plan`: it will update or reactivate it"
                ) from None
        elif action in (Action.SCOPE_UPDATE, Action.SCOPE_REACTIVATE):
            assert change.body is not None
            api.update_scope(name, change.body)
        elif action == Action.SCOPE_DEACTIVATE:
            api.deactivate_scope(name)
        elif action == Action.GRANT:
            assert change.consumer
            api.grant(name, change.consumer)
        elif action == Action.REVOKE:
            assert change.consumer
            api.revoke(name, change.consumer)
        else:  # pragma: no cover - SCOPE_ACTIONS lists exactly the branches above
            raise SelvsyncError(f"{env}: {name}: {action} is not a scope action")
        return name
