"""The self-service API's operations: clients, secrets, key sets and the merchant extension.

Every handler takes the request, the caller (already authenticated and scope-checked by the
app), the path parameters and the list lag in force, and returns a Response or raises
ApiProblem. Read-check-write sequences run inside one store transaction.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .errors import problem
from .keys import stamp_expiry, validate_jwks
from .merchant import EMPTY, validate_merchant
from .store import ClientRow, Store
from .timefmt import digdir_timestamp
from .tokens import SUPPLIER, Principal
from .validation import (
    LIST_FIELDS,
    LOGIN_TYPES,
    SECRET_METHODS,
    valid_orgno,
    validate_client,
)
from .wire import Request, Response

Params = Mapping[str, str]
# Rendered onbehalfof entries per client id (None: every client), from onbehalfof.py.
EntryLookup = Callable[[Collection[str] | None], Mapping[str, list[dict[str, Any]]]]


def _secret_hash(secret: str | None) -> str | None:
    return hashlib.sha256(secret.encode()).hexdigest() if secret is not None else None


class ClientApi:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], float],
        prefix: str,
        *,
        new_id: Callable[[], str],
        secret_factory: Callable[[], str],
        shuffle: random.Random | None,
        ansattporten_sso_forced: bool = True,
        foreign_status: int = 403,
        onbehalfof: EntryLookup | None = None,
    ) -> None:
        self._forced = ansattporten_sso_forced
        self._store = store
        self._clock = clock
        self._prefix = prefix
        self._new_id = new_id
        self._secret_factory = secret_factory
        self._shuffle = shuffle
        self._foreign_status = foreign_status
        self.onbehalfof = onbehalfof

    # clients

    def list_clients(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        rows = (
            self._store.list_clients_as_of(who.orgno, self._clock() - lag)
            if lag > 0
            else self._store.list_clients(who.orgno)
        )
        inactive = req.flag("inactive")
        rows = [r for r in rows if (r.active or inactive) and self._mine(who, r)]
        entries = self._entries(None if len(rows) > 1 else [r.client_id for r in rows])
        return Response.json(200, [self._render(r, req, entries) for r in rows])

    def get_client(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        return Response.json(200, self._render(self._readable(req, who, params["id"]), req))

    def create_client(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        body = req.json()
        fields = validate_client(body, forced=self._forced)
        assert isinstance(body, dict)
        orgno, supplier = self._owner(body, who)
        secret = (
            self._secret_factory()
            if fields["token_endpoint_auth_method"] in SECRET_METHODS
            else None
        )
        with self._store.transaction():
            self._refuse_recreation(body.get("client_id"), who)
            client_id = self._new_id()
            while self._store.get_client(client_id) is not None:
                client_id = self._new_id()
            now = self._stamp(None)
            row = ClientRow(
                client_id,
                orgno,
                supplier,
                True,
                self._shuffled(fields),
                now,
                now,
                secret_hash=_secret_hash(secret),
            )
            self._store.save_client(row)
        rendered = self._render(row, req)
        if secret is not None:
            rendered["client_secret"] = secret
        return Response.json(201, rendered)

    def update_client(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        with self._store.transaction():
            row = self._writable(who, params["id"])
            fields = validate_client(req.json(), current=row.fields, forced=self._forced)
            if fields["token_endpoint_auth_method"] not in SECRET_METHODS:
                row.secret_hash = None
            row.fields = self._shuffled(fields)
            row.last_updated = self._stamp(row.last_updated)
            self._store.save_client(row)
        return Response.json(200, self._render(row, req))

    def deactivate_client(
        self, req: Request, who: Principal, params: Params, lag: float
    ) -> Response:
        with self._store.transaction():
            row = self._writable(who, params["id"])
            row.active = False
            row.last_updated = self._stamp(row.last_updated)
            self._store.save_client(row)
        return Response.json(200, self._render(row, req))

    def rotate_secret(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        with self._store.transaction():
            row = self._writable(who, params["id"])
            if row.fields["token_endpoint_auth_method"] not in SECRET_METHODS:
                raise problem(
                    400,
                    "only client_secret_basic and client_secret_post clients have a secret",
                    "token_endpoint_auth_method",
                )
            secret = self._secret_factory()
            row.secret_hash = _secret_hash(secret)
            row.last_updated = self._stamp(row.last_updated)
            self._store.save_client(row)
        return Response.json(200, {"client_secret": secret})

    # key sets

    def get_jwks(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        self._readable(req, who, params["id"])
        keyset = self._store.get_jwks(params["id"])
        if keyset is None:
            return Response.json(200, {"keys": []})
        return Response.json(
            200,
            {
                "keys": keyset.keys,
                "created": digdir_timestamp(keyset.created),
                "last_updated": digdir_timestamp(keyset.last_updated),
            },
        )

    def put_jwks(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        with self._store.transaction():
            row = self._writable(who, params["id"])
            keyset = self._store.get_jwks(row.client_id)
            now = self._stamp(keyset.last_updated if keyset else None)
            previous = keyset.keys if keyset else []
            keys = stamp_expiry(validate_jwks(req.json()), previous, now)
            taken = self._store.kids_taken([k["kid"] for k in keys], row.client_id)
            if taken:
                raise problem(
                    400, f"kid already registered on another client: {', '.join(taken)}", "kid"
                )
            saved = self._store.put_jwks(row.client_id, keys, now)
        return Response.json(
            201 if req.method == "POST" else 200,
            {
                "keys": saved.keys,
                "created": digdir_timestamp(saved.created),
                "last_updated": digdir_timestamp(saved.last_updated),
            },
        )

    def delete_jwks(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        with self._store.transaction():
            row = self._writable(who, params["id"])
            self._store.delete_jwks(row.client_id)
        return Response.json(200, {"keys": []})

    # merchant extension

    def list_merchant(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        # One read for a whole organisation, like GET /clients: a plan must not cost a request
        # per client.
        out = []
        for row in self._store.list_clients(who.orgno):
            if row.active and self._mine(who, row):
                data = self._store.get_merchant(row.client_id) or EMPTY
                out.append({"client_id": row.client_id, **data})
        return Response.json(200, out)

    def get_merchant(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        self._readable(req, who, params["id"])
        return Response.json(200, self._store.get_merchant(params["id"]) or EMPTY)

    def put_merchant(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        with self._store.transaction():
            row = self._writable(who, params["id"])
            merchant = validate_merchant(req.json())
            self._store.put_merchant(row.client_id, merchant)
        return Response.json(200, merchant)

    # helpers

    @staticmethod
    def _mine(who: Principal, row: ClientRow) -> bool:
        # A supplier reaches the clients it made for others only with the supplier scope.
        return row.client_orgno == who.orgno or (
            row.supplier_orgno == who.orgno and SUPPLIER in who.scopes)

    def _visible(self, who: Principal, client_id: str) -> ClientRow:
        row = self._store.get_client(client_id)
        if row is None or (not self._mine(who, row) and self._foreign_status == 404):
            raise problem(404, f"client {client_id} not found", error="not_found")
        if not self._mine(who, row):
            raise problem(self._foreign_status,
                          f"client {client_id} belongs to another organization",
                          error="access_denied")
        return row

    # for the sibling handlers (onbehalfof.py)

    def readable(self, req: Request, who: Principal, client_id: str) -> ClientRow:
        return self._readable(req, who, client_id)

    def writable(self, who: Principal, client_id: str) -> ClientRow:
        return self._writable(who, client_id)

    def _readable(self, req: Request, who: Principal, client_id: str) -> ClientRow:
        row = self._visible(who, client_id)
        if not row.active and not req.flag("inactive"):
            raise problem(
                404,
                f"client {client_id} is deactivated (use ?inactive=true to read it)",
                error="not_found",
            )
        return row

    def _writable(self, who: Principal, client_id: str) -> ClientRow:
        row = self._visible(who, client_id)
        if not row.active:
            raise problem(
                409, f"client {client_id} is deactivated and cannot be changed or reactivated"
            )
        return row

    def _refuse_recreation(self, requested_id: object, who: Principal) -> None:
        if not isinstance(requested_id, str):
            return
        row = self._store.get_client(requested_id)
        if row is None or not self._mine(who, row):
            return
        state = "is deactivated and cannot be recreated" if not row.active else "already exists"
        raise problem(409, f"client {requested_id} {state}", "client_id")

    def _owner(self, body: Mapping[str, Any], who: Principal) -> tuple[str, str | None]:
        orgno = body.get("client_orgno")
        if orgno is None or orgno == who.orgno:
            return who.orgno, None
        if SUPPLIER not in who.scopes:
            raise problem(
                403,
                f"creating clients for another organisation needs the scope {SUPPLIER}",
                "client_orgno",
            )
        if not valid_orgno(orgno):
            raise problem(400, "must be 9 digits with a valid check digit", "client_orgno")
        assert isinstance(orgno, str)
        return orgno, who.orgno

    def _stamp(self, previous: float | None) -> float:
        # Millisecond resolution like Digdir's, and strictly increasing per object so a
        # frozen test clock still shows every write in last_updated.
        now = round(self._clock(), 3)
        return now if previous is None or now > previous else round(previous + 0.001, 3)

    def _shuffled(self, fields: dict[str, Any]) -> dict[str, Any]:
        if self._shuffle is None:
            return fields
        result = dict(fields)
        for name in sorted(LIST_FIELDS):  # sorted: the same seed must shuffle the same way
            values: list[str] = result[name]
            if len(values) > 1:
                mixed = self._shuffle.sample(values, len(values))
                result[name] = mixed if mixed != values else values[1:] + values[:1]
        return result

    def _entries(self, client_ids: Collection[str] | None) -> Mapping[str, list[dict[str, Any]]]:
        return {} if self.onbehalfof is None else self.onbehalfof(client_ids)

    def _render(self, row: ClientRow, req: Request,
                entries: Mapping[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"client_id": row.client_id, "client_orgno": row.client_orgno}
        if row.supplier_orgno is not None:
            out["supplier_orgno"] = row.supplier_orgno
        out.update(row.fields)
        if row.fields.get("integration_type") in LOGIN_TYPES:
            # Server-set: the emulator's logout tokens would always carry sid.
            out["backchannel_logout_session_required"] = "backchannel_logout_uri" in row.fields
        listed = (self._entries([row.client_id]) if entries is None else entries).get(
            row.client_id)
        if listed:
            out["onbehalfof"] = listed
        out.update(
            {
                "created": digdir_timestamp(row.created),
                "last_updated": digdir_timestamp(row.last_updated),
                "active": row.active,
                "jwks_uri": f"{req.base_url}{self._prefix}/clients/{row.client_id}/jwks",
            }
        )
        return out
