"""Digdir's scope administration for Maskinporten API providers, over HTTP.

Same base and prefix as ``/clients`` (docs/scopes.md). A scope's name goes in the
query string (``?scope=prefix:subscope``) because it may hold ``/``.

Reads ask for ``idporten:scopes.read`` and writes for ``idporten:scopes.write``, each on its own
token (the client's ``dcr`` scopes are never widened): a plan never holds a scope-writing token,
and an apply asks for one only when its plan changes scopes. The consumer's own access
(``GET /scopes/access/all``) is read with the client's ``dcr.read`` token.

The trap: for ``/prefix``, ``/scopes``, ``/scopes/access`` and ``/scopes/access/all`` Digdir has
answered an empty result as an error whose description says "does not have any". That is an
empty list; any other error is an error, never "no scopes" or "no grants".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from selvsync.api.client import DigdirClient
from selvsync.api.errors import HttpStatusError, InvalidResponseError
from selvsync.api.sender import Sender

SCOPES_READ: Final = ("idporten:scopes.read",)
SCOPES_WRITE: Final = ("idporten:scopes.write",)
EMPTY_MARK: Final = "does not have any"

Json = dict[str, Any]


def is_empty_answer(exc: HttpStatusError) -> bool:
    """Whether an error response is Digdir's way of saying "none"."""
    body = exc.body
    texts = [body.error_description or "", body.error or "", body.text or ""]
    texts += [e.message for e in body.errors]
    return any(EMPTY_MARK in t.lower() for t in texts)


class ScopesApi:
    """Scope and access calls for one environment, on a DigdirClient's connections."""

    def __init__(self, client: DigdirClient, *, write: bool = False,
                 scopes: tuple[str, ...] | None = None) -> None:
        self.client = client
        self.prefix = client.prefix
        self.write = write
        self._admin: Sender = client.sender_for(
            scopes or (SCOPES_WRITE if write else SCOPES_READ)
        )
        self._consumer: Sender = client.sender_for(client.scopes)

    # -- reads -----------------------------------------------------------------------

    def list_prefixes(self) -> list[str]:
        items = self._list(self._admin, "/prefix")
        out = []
        for item in items:
            value = item.get("prefix") if isinstance(item, dict) else item
            if isinstance(value, str):
                out.append(value)
        return out

    def list_scopes(self, *, inactive: bool = True) -> list[Json]:
        """The organisation's own scopes (deactivated ones too with ``inactive``)."""
        params = {"inactive": "true"} if inactive else None
        return self._objects(self._list(self._admin, "/scopes", params), "/scopes")

    def list_access(self, scope: str) -> list[Json]:
        """Every access entry of ``scope`` (REQUESTED, APPROVED, DENIED)."""
        params = {"scope": scope, "inactive": "true"}
        path = "/scopes/access"
        return self._objects(self._list(self._admin, path, params), path)

    def consumer_access(self) -> list[Json]:
        """The scopes this organisation, as a consumer, has an access entry for."""
        path = "/scopes/access/all"
        return self._objects(self._list(self._consumer, path), path)

    def open_scopes(self) -> list[Json]:
        """Active scopes in the public catalogue that anyone may use (accessible_for_all)."""
        path = "/scopes/all"
        items = self._list(self._consumer, path, {"accessible_for_all": "true"})
        return self._objects(items, path)

    # -- writes (called from selvsync.apply only) -------------------------------------

    def create_scope(self, body: Mapping[str, Any]) -> Json:
        data, _ = self._admin.call("POST", self._path("/scopes"), json_body=dict(body))
        return data if isinstance(data, dict) else dict(body)

    def update_scope(self, name: str, body: Mapping[str, Any]) -> Json:
        data, _ = self._admin.call(
            "PUT", self._path("/scopes"), params={"scope": name}, json_body=dict(body)
        )
        return data if isinstance(data, dict) else dict(body)

    def deactivate_scope(self, name: str) -> None:
        self._admin.call("DELETE", self._path("/scopes"), params={"scope": name}, gone_ok=True)

    def grant(self, name: str, consumer: str) -> None:
        self._admin.call("PUT", self._access_path(consumer), params={"scope": name})

    def revoke(self, name: str, consumer: str) -> None:
        self._admin.call(
            "DELETE", self._access_path(consumer), params={"scope": name}, gone_ok=True
        )

    # -- plumbing --------------------------------------------------------------------

    def _path(self, suffix: str) -> str:
        return self.prefix + suffix

    def _access_path(self, consumer: str) -> str:
        return self._path("/scopes/access/" + quote(consumer, safe=""))

    def _list(self, sender: Sender, suffix: str, params: Mapping[str, str] | None = None
              ) -> list[Any]:
        path = self._path(suffix)
        try:
            data, response = sender.call("GET", path, params=params)
        except HttpStatusError as exc:
            if is_empty_answer(exc):
                return []
            raise
        if data is None:
            return []
        if isinstance(data, dict):
            return [data]  # one scope answered as an object
        if not isinstance(data, list):
            raise InvalidResponseError(
                f"GET {path}: expected a JSON array", method="GET", path=path,
                status=response.status_code,
            )
        return data

    @staticmethod
    def _objects(items: list[Any], path: str) -> list[Json]:
        if not all(isinstance(i, dict) for i in items):
            raise InvalidResponseError(f"GET {path}: expected JSON objects", method="GET",
                                       path=path)
        return [dict(i) for i in items]
