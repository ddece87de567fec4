"""onbehalfof entries of a login client over HTTP: ``/clients/{id}/onbehalfof[/{obo}]``.

Reads use the client's own token (``idporten:dcr.read``). Writes ask for
``idporten:dcr/onbehalfof:write`` only, on a token of its own: Digdir grants that scope to
suppliers who may not change the client's other fields, and an apply that changes no entry
never asks for it (selvsync.apply.onbehalfof opens the writer on the first entry change).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from selvsync.api.client import DigdirClient
from selvsync.api.errors import (
    AmbiguousWriteError,
    ConflictError,
    InvalidResponseError,
    NotFoundError,
)
from selvsync.api.sender import Sender

ONBEHALFOF_WRITE: Final = ("idporten:dcr/onbehalfof:write",)

Json = dict[str, Any]


class OnBehalfOfApi:
    """Entry calls for one environment, on a DigdirClient's connections."""

    def __init__(self, client: DigdirClient, *, write: bool = False) -> None:
        self.client = client
        self.prefix = client.prefix
        self._reader: Sender = client.sender_for(client.scopes)
        self._writer: Sender | None = client.sender_for(ONBEHALFOF_WRITE) if write else None

    def list(self, client_id: str) -> list[Json]:
        path = self._path(client_id)
        data, _ = self._reader.call("GET", path)
        if data is None:
            return []
        if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
            raise InvalidResponseError(f"GET {path}: expected an array of entries",
                                       method="GET", path=path)
        return data

    # -- writes (called from selvsync.apply only) -------------------------------------

    def create(self, client_id: str, body: Mapping[str, Any]) -> None:
        """POST the entry; an entry that already exists (409, or a lost answer that did reach
        Digdir) is written with PUT instead, so the result is the declared entry either way."""
        obo = str(body["onbehalfof"])
        try:
            self._write().call("POST", self._path(client_id), json_body=dict(body))
        except ConflictError:
            self.update(client_id, obo, body)
        except AmbiguousWriteError:
            try:
                self._reader.call("GET", self._path(client_id, obo))
            except NotFoundError:
                self._write().call("POST", self._path(client_id), json_body=dict(body))
                return
            self.update(client_id, obo, body)

    def update(self, client_id: str, obo: str, body: Mapping[str, Any]) -> None:
        self._write().call("PUT", self._path(client_id, obo), json_body=dict(body),
                           idempotent=True)

    def delete(self, client_id: str, obo: str) -> None:
        self._write().call("DELETE", self._path(client_id, obo), gone_ok=True)

    # -- plumbing --------------------------------------------------------------------

    def _write(self) -> Sender:
        if self._writer is None:
            raise RuntimeError("OnBehalfOfApi was opened for reading only")
        return self._writer

    def _path(self, client_id: str, obo: str | None = None) -> str:
        path = f"{self.prefix}/clients/{quote(client_id, safe='')}/onbehalfof"
        return path if obo is None else f"{path}/{quote(obo, safe='')}"
