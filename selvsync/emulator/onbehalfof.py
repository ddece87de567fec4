"""onbehalfof entries: a supplier's ID-porten login client registered once and shown at login
with each customer's name and logo (``/clients/{id}/onbehalfof[/{obo}]``).

Digdir's sources spell two fields two ways (``name`` or ``display_name``, ``client_uri`` or
``url``); both are accepted on input, and ``Emulator(onbehalfof_spelling=...)`` picks the one
answered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from .errors import ApiProblem, FieldError, problem
from .handlers import ClientApi
from .scopestore import OnBehalfOfRow, ScopeStore
from .tokens import Principal
from .validation import valid_orgno
from .wire import Request, Response

Params = Mapping[str, str]
Spelling = Literal["name", "display_name"]
SPELLINGS: dict[str, tuple[str, str]] = {
    "name": ("name", "client_uri"),
    "display_name": ("display_name", "url"),
}
# ID-porten's own login clients; ansattporten is another provider, machine clients have no login.
ONBEHALFOF_TYPES = frozenset({"idporten", "api_klient"})
OBO_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
KNOWN = frozenset({"onbehalfof", "orgno", "name", "display_name", "client_uri", "url",
                   "logo_uri", "description", "created", "last_updated", "client_id"})


def _https(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.netloc) and not any(c.isspace() for c in value)


def _either(given: Mapping[str, Any], names: tuple[str, str],
            errors: list[FieldError]) -> Any:
    first, second = (given.get(n) for n in names)
    if first is not None and second is not None and first != second:
        errors.append(FieldError(f"{names[0]} and {names[1]} are the same field; they differ",
                                 names[0]))
    return first if first is not None else second


def validate_onbehalfof(body: object, obo: str | None) -> dict[str, Any]:
    """The entry to store, spelled ``name``/``client_uri``; ``obo`` is the id in the path on
    PUT (the body's ``onbehalfof`` may be omitted there, but not differ)."""
    if not isinstance(body, dict):
        raise ApiProblem(400, [FieldError("the request body must be a JSON object")])
    given = {k: v for k, v in body.items() if v is not None}
    errors = [FieldError("unknown field", k) for k in sorted(given.keys() - KNOWN)]
    ident = given.get("onbehalfof", obo)
    if obo is not None and ident != obo:
        errors.append(FieldError("cannot be changed: it is the id in the path", "onbehalfof"))
    if not isinstance(ident, str) or not OBO_PATTERN.match(ident):
        errors.append(FieldError("required: 1 to 100 letters, digits, '.', '_' or '-'",
                                 "onbehalfof"))
    if not valid_orgno(given.get("orgno")):
        errors.append(FieldError("must be 9 digits with a valid check digit", "orgno"))
    name = _either(given, ("name", "display_name"), errors)
    if not isinstance(name, str) or not name.strip():
        errors.append(FieldError("a display name (name or display_name) is required", "name"))
    uri = _either(given, ("client_uri", "url"), errors)
    entry: dict[str, Any] = {"onbehalfof": ident, "orgno": given.get("orgno"), "name": name}
    for field, value in (("client_uri", uri), ("logo_uri", given.get("logo_uri"))):
        if value is None:
            continue
        if not isinstance(value, str) or not _https(value):
            errors.append(FieldError("must be an https URI", field))
        entry[field] = value
    description = given.get("description")
    if description is not None:
        if not isinstance(description, str):
            errors.append(FieldError("must be a string", "description"))
        entry["description"] = description
    if errors:
        raise ApiProblem(400, errors)
    return entry


class OnBehalfOfApi:
    def __init__(self, store: ScopeStore, clients: ClientApi, clock: Callable[[], float], *,
                 spelling: Spelling = "name") -> None:
        if spelling not in SPELLINGS:
            raise ValueError(f"onbehalfof_spelling must be one of {', '.join(SPELLINGS)}")
        self._store = store
        self._clients = clients
        self._clock = clock
        self._name, self._uri = SPELLINGS[spelling]

    def entries_for(self, client_ids: Collection[str] | None) -> dict[str, list[dict[str, Any]]]:
        """Rendered entries per client id, for the client object's ``onbehalfof``."""
        out: dict[str, list[dict[str, Any]]] = {}
        for row in self._store.onbehalfof_entries(client_ids):
            out.setdefault(row.client_id, []).append(self._render(row))
        return out

    def list_entries(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        row = self._clients.readable(req, who, params["id"])
        return Response.json(200, self.entries_for([row.client_id]).get(row.client_id, []))

    def get_entry(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        row = self._clients.readable(req, who, params["id"])
        return Response.json(200, self._render(self._existing(row.client_id, params["obo"])))

    def create_entry(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        with self._store.transaction():
            client = self._login_client(who, params["id"])
            entry = validate_onbehalfof(req.json(), None)
            if self._store.get_onbehalfof(client, entry["onbehalfof"]) is not None:
                raise problem(409, f"onbehalfof {entry['onbehalfof']} already exists on client "
                                   f"{client}", "onbehalfof")
            now = round(self._clock(), 3)
            row = OnBehalfOfRow(client, entry["onbehalfof"], entry, now, now)
            self._store.save_onbehalfof(row)
        return Response.json(201, self._render(row))

    def update_entry(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        with self._store.transaction():
            client = self._login_client(who, params["id"])
            row = self._existing(client, params["obo"])
            row.body = validate_onbehalfof(req.json(), params["obo"])
            row.last_updated = round(self._clock(), 3)
            self._store.save_onbehalfof(row)
        return Response.json(200, self._render(row))

    def delete_entry(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        with self._store.transaction():
            client = self._login_client(who, params["id"])
            row = self._existing(client, params["obo"])
            self._store.delete_onbehalfof(client, row.onbehalfof)
        return Response.json(200, self._render(row))

    def _login_client(self, who: Principal, client_id: str) -> str:
        row = self._clients.writable(who, client_id)
        kind = row.fields.get("integration_type")
        if kind not in ONBEHALFOF_TYPES:
            raise problem(400, f"onbehalfof is only for ID-porten login clients "
                               f"({', '.join(sorted(ONBEHALFOF_TYPES))}), not {kind}",
                          "integration_type")
        return row.client_id

    def _existing(self, client_id: str, obo: str) -> OnBehalfOfRow:
        row = self._store.get_onbehalfof(client_id, obo)
        if row is None:
            raise problem(404, f"onbehalfof {obo} not found on client {client_id}",
                          error="not_found")
        return row

    def _render(self, row: OnBehalfOfRow) -> dict[str, Any]:
        body = row.body
        out: dict[str, Any] = {"onbehalfof": body["onbehalfof"], "orgno": body["orgno"],
                               self._name: body["name"]}
        if "client_uri" in body:
            out[self._uri] = body["client_uri"]
        for field in ("logo_uri", "description"):
            if field in body:
                out[field] = body[field]
        return out
