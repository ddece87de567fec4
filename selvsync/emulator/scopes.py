"""The scopes API for Maskinporten API providers: prefixes, scopes, and who may use them.

A scope is named ``prefix:subscope``; the prefix is given to an organisation by Digdir (here:
``Emulator.add_prefix``). Scopes are deactivated, never deleted, and reactivated by a PUT with
``active: true``. Access entries (consumer organisation, state) belong to a scope. Listings that
come out empty are answered, like Digdir's, with an error saying "does not have any" unless the
emulator is told to answer ``[]`` (``empty_list_status=None``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import ApiProblem, FieldError, problem
from .scopestore import AccessRow, ScopeRow, ScopeStore
from .tokens import Principal
from .validation import valid_orgno
from .wire import Request, Response

Params = Mapping[str, str]

ACCESS_STATES = ("REQUESTED", "APPROVED", "DENIED")
INTEGRATION_TYPES = frozenset({"maskinporten", "api_klient", "ansattporten", "idporten", "krr"})
VISIBILITIES = frozenset({"PUBLIC", "PRIVATE", "INTERNAL"})
TOKEN_TYPES = frozenset({"SELF_CONTAINED", "OPAQUE"})
# Digdir's Altinn delegation sources; a scope's delegation_source must be one of the issuers.
DELEGATION_SOURCES: tuple[dict[str, str], ...] = (
    {"name": "Altinn", "issuer": "https://www.altinn.no/"},
    {"name": "Altinn TT02", "issuer": "https://tt02.altinn.no/"},
)
BOOL_FIELDS = ("accessible_for_all", "requires_user_consent", "requires_user_authentication",
               "requires_pseudonymous_tokens", "protected", "supports_european_businesses")
INT_FIELDS = ("at_max_age", "authorization_max_lifetime")
OPTIONAL_STRINGS = ("long_description", "delegation_source", "enforced_aud_for_access_token")
DEFAULTS: dict[str, Any] = {
    "allowed_integration_types": ["maskinporten"],
    "visibility": "PUBLIC",
    "token_type": "SELF_CONTAINED",
    "at_max_age": 0,
    "authorization_max_lifetime": 0,
    **dict.fromkeys(BOOL_FIELDS, False),
}
READ_ONLY = frozenset({"name", "owner_orgno", "created", "last_updated"})
TRANSLATION = re.compile(r"^(long_)?description#[a-z]{2}$")
PREFIX_PATTERN = re.compile(r"^[a-z0-9æøå_-]+$")
SUBSCOPE_PATTERN = re.compile(r"^[a-z0-9æøå_-]+(?:[/:.][a-z0-9æøå_-]+)*$")


def utc_timestamp(ts: float) -> str:
    """Scopes carry UTC timestamps (``2024-05-21T15:05:45.862Z``), unlike clients."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _known(name: str) -> bool:
    return (name in DEFAULTS or name in OPTIONAL_STRINGS or name in READ_ONLY
            or name in ("prefix", "subscope", "description", "active")
            or TRANSLATION.match(name) is not None)


def validate_scope(body: object, current: ScopeRow | None) -> tuple[dict[str, Any], bool | None]:
    """The writable fields to store (a full replace, defaults filled) and the requested
    ``active`` (None when absent), or ApiProblem(400) naming every problem."""
    if not isinstance(body, dict):
        raise ApiProblem(400, [FieldError("the request body must be a JSON object")])
    errors: list[FieldError] = []
    given = {k: v for k, v in body.items() if v is not None}
    for name in sorted(k for k in given if not _known(k)):
        errors.append(FieldError("unknown field", name))
    fields: dict[str, Any] = {}
    for name in ("prefix", "subscope"):
        value = given.get(name)
        if current is not None:
            if value is not None and value != current.fields[name]:
                errors.append(FieldError("cannot be changed", name))
            fields[name] = current.fields[name]
        elif not isinstance(value, str) or not value:
            errors.append(FieldError("is required", name))
        else:
            fields[name] = value
    if current is None and isinstance(given.get("subscope"), str) and given["subscope"] \
            and not SUBSCOPE_PATTERN.match(given["subscope"]):
        errors.append(FieldError(
            "lower-case letters, digits, '_' and '-', in parts separated by '/', ':' or '.'",
            "subscope"))
    if current is not None and "name" in given and given["name"] != current.name:
        errors.append(FieldError("cannot be changed", "name"))
    description = given.get("description")
    if not isinstance(description, str) or not description.strip():
        errors.append(FieldError("is required and must not be blank", "description"))
    else:
        fields["description"] = description
    for name in [*OPTIONAL_STRINGS, *sorted(k for k in given if TRANSLATION.match(k))]:
        value = given.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            errors.append(FieldError("must be a string", name))
        else:
            fields[name] = value
    source = fields.get("delegation_source")
    if source is not None and source not in {s["issuer"] for s in DELEGATION_SOURCES}:
        errors.append(FieldError("must be the issuer of one of GET /delegationsources",
                                 "delegation_source"))
    _typed_defaults(given, fields, errors)
    active = given.get("active")
    if active is not None and not isinstance(active, bool):
        errors.append(FieldError("must be true or false", "active"))
    if errors:
        raise ApiProblem(400, errors)
    return fields, active


def _typed_defaults(given: Mapping[str, Any], fields: dict[str, Any],
                    errors: list[FieldError]) -> None:
    for name in BOOL_FIELDS:
        value = given.get(name, DEFAULTS[name])
        if not isinstance(value, bool):
            errors.append(FieldError("must be true or false", name))
        fields[name] = value
    for name in INT_FIELDS:
        value = given.get(name, DEFAULTS[name])
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            errors.append(FieldError("must be an integer of 0 or more (seconds)", name))
        fields[name] = value
    for name, allowed in (("visibility", VISIBILITIES), ("token_type", TOKEN_TYPES)):
        value = given.get(name, DEFAULTS[name])
        if value not in allowed:
            errors.append(FieldError(f"must be one of {', '.join(sorted(allowed))}", name))
        fields[name] = value
    types = given.get("allowed_integration_types", DEFAULTS["allowed_integration_types"])
    if not isinstance(types, list) or not all(t in INTEGRATION_TYPES for t in types):
        errors.append(FieldError(f"must be a list of {', '.join(sorted(INTEGRATION_TYPES))}",
                                 "allowed_integration_types"))
        types = []
    fields["allowed_integration_types"] = list(dict.fromkeys(types))


class ScopeApi:
    def __init__(self, store: ScopeStore, clock: Callable[[], float], *,
                 empty_list_status: int | None, scope_query_list: bool,
                 consumer_access_approved_only: bool) -> None:
        self._store = store
        self._clock = clock
        self._empty_status = empty_list_status
        self._query_list = scope_query_list
        self._approved_only = consumer_access_approved_only

    # Python and control-surface administration (what Digdir does by hand)

    def add_prefix(self, orgno: str, prefix: str) -> None:
        if not valid_orgno(orgno):
            raise ValueError(f"{orgno!r} is not an organisation number with a valid check digit")
        if not isinstance(prefix, str) or not PREFIX_PATTERN.match(prefix):
            raise ValueError(f"{prefix!r} is not a prefix: lower-case letters, digits, '_', '-'")
        self._store.add_prefix(orgno, prefix)

    def add_organisation(self, orgno: str, name: str) -> None:
        if not valid_orgno(orgno):
            raise ValueError(f"{orgno!r} is not an organisation number with a valid check digit")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("an organisation needs a non-blank name")
        self._store.set_name(orgno, name)

    def set_access_state(self, scope: str, consumer_orgno: str, state: str) -> dict[str, Any]:
        """Record a consumer's access request (REQUESTED), a refusal (DENIED) or a grant."""
        if state not in ACCESS_STATES:
            raise ValueError(f"state must be one of {', '.join(ACCESS_STATES)}")
        if not valid_orgno(consumer_orgno):
            raise ValueError(f"{consumer_orgno!r} is not an organisation number with a valid "
                             "check digit")
        with self._store.transaction():
            row = self._store.get_scope(scope)
            if row is None:
                raise ValueError(f"no scope {scope}")
            entry = self._write_access(row, consumer_orgno, state)
            return self._render_access(entry, row, self._store.names())

    def control(self, req: Request, path: str) -> Response | None:
        """``/_emulator/prefixes``, ``/organizations`` and ``/access`` (POST), or None."""
        handlers: dict[str, Callable[[dict[str, Any]], object]] = {
            "/prefixes": lambda b: self.add_prefix(_text(b, "orgno"), _text(b, "prefix")),
            "/organizations": lambda b: self.add_organisation(_text(b, "orgno"),
                                                              _text(b, "name")),
            "/access": lambda b: self.set_access_state(
                _text(b, "scope"), _text(b, "consumer_orgno"),
                _text({"state": "REQUESTED", **b}, "state")),
        }
        if path not in handlers:
            return None
        if req.method != "POST":
            return Response.json(405, {"error": "invalid_request",
                                       "error_description": "use POST"}, {"Allow": "POST"})
        try:
            body = req.json()
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            result = handlers[path](body)
        except ApiProblem as exc:
            return Response.json(exc.status, {"error": "invalid_request",
                                              "error_description": exc.description})
        except (ValueError, TypeError) as exc:
            return Response.json(400, {"error": "invalid_request", "error_description": str(exc)})
        return Response.json(201, result if result is not None else body)

    # prefixes

    def list_prefixes(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        prefixes = self._store.prefixes(who.orgno)
        return self._listing([{"prefix": p, "owner_orgno": who.orgno} for p in prefixes],
                             f"Organization {who.orgno} does not have any prefixes")

    def delegation_sources(self, req: Request, who: Principal, params: Params,
                           lag: float) -> Response:
        return Response.json(200, list(DELEGATION_SOURCES))

    # scopes

    def list_scopes(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        if "scope" in req.query:
            if self._query_list:
                row = self._own(who, req.query["scope"], req, missing_ok=True)
                found = [] if row is None else [self._render(row)]
                return self._listing(found, f"Organization {who.orgno} does not have any "
                                            f"scope {req.query['scope']}")
            return self.get_scope(req, who, params, lag)
        inactive = req.flag("inactive")
        rows = [r for r in self._store.owned_scopes(who.orgno) if r.active or inactive]
        return self._listing([self._render(r) for r in rows],
                             f"Organization {who.orgno} does not have any scopes")

    def get_scope(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        row = self._own(who, _scope_param(req), req)
        assert row is not None
        return Response.json(200, self._render(row))

    def create_scope(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        fields, _ = validate_scope(req.json(), None)
        with self._store.transaction():
            owner = self._store.prefix_owner(fields["prefix"])
            if owner != who.orgno:
                raise problem(400, f"organization {who.orgno} does not own the prefix "
                                   f"{fields['prefix']}", "prefix")
            name = f"{fields['prefix']}:{fields['subscope']}"
            existing = self._store.get_scope(name)
            if existing is not None:
                state = "already exists" if existing.active else "exists and is deactivated " \
                    "(reactivate it with PUT and active: true)"
                raise problem(409, f"scope {name} {state}", "subscope")
            now = self._stamp(None)
            row = ScopeRow(name, who.orgno, True, fields, now, now)
            self._store.save_scope(row)
        return Response.json(201, self._render(row))

    def update_scope(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        name = _scope_param(req)
        with self._store.transaction():
            row = self._own(who, name, req, any_state=True)
            assert row is not None
            fields, active = validate_scope(req.json(), row)
            if not row.active and active is not True:
                raise problem(409, f"scope {name} is deactivated: send active: true to "
                                   "reactivate it")
            row.fields = fields
            if active is not None:
                row.active = active
            row.last_updated = self._stamp(row.last_updated)
            self._store.save_scope(row)
        return Response.json(200, self._render(row))

    def deactivate_scope(self, req: Request, who: Principal, params: Params,
                         lag: float) -> Response:
        name = _scope_param(req)
        with self._store.transaction():
            row = self._own(who, name, req, any_state=True)
            assert row is not None
            if not row.active:
                raise problem(409, f"scope {name} is already deactivated")
            row.active = False
            row.last_updated = self._stamp(row.last_updated)
            self._store.save_scope(row)
        return Response.json(200, self._render(row))

    def catalogue(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        inactive = req.flag("inactive")
        kind = req.query.get("integration_type", "").lower()
        out = []
        for row in self._store.all_scopes():
            fields = row.fields
            if fields["visibility"] != "PUBLIC" or (not row.active and not inactive):
                continue
            if req.flag("accessible_for_all") and not fields["accessible_for_all"]:
                continue
            if req.flag("delegated_sources") and not fields.get("delegation_source"):
                continue
            if kind and kind not in fields["allowed_integration_types"]:
                continue
            out.append(self._render(row))
        return Response.json(200, out)

    # access

    def list_access(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        row = self._own(who, _scope_param(req), req, any_state=True)
        assert row is not None
        names = self._store.names()
        entries = [self._render_access(a, row, names)
                   for a in self._store.access_for_scope(row.name)]
        return self._listing(entries, f"Scope {row.name} does not have any consumers")

    def grant_access(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        consumer = _consumer(params)
        with self._store.transaction():
            row = self._own(who, _scope_param(req), req, any_state=True)
            assert row is not None
            if not row.active:
                raise problem(409, f"scope {row.name} is deactivated")
            entry = self._write_access(row, consumer, "APPROVED")
            return Response.json(200, self._render_access(entry, row, self._store.names()))

    def revoke_access(self, req: Request, who: Principal, params: Params, lag: float) -> Response:
        consumer = _consumer(params)
        with self._store.transaction():
            row = self._own(who, _scope_param(req), req, any_state=True)
            assert row is not None
            entry = self._store.get_access(row.name, consumer)
            if entry is None:
                raise problem(404, f"organization {consumer} has no access entry for "
                                   f"{row.name}", error="not_found")
            self._store.delete_access(row.name, consumer)
        return Response.json(200, self._render_access(entry, row, self._store.names()))

    def consumer_access(self, req: Request, who: Principal, params: Params,
                        lag: float) -> Response:
        inactive = req.flag("inactive")
        kind = req.query.get("integration_type", "").lower()
        names = self._store.names()
        out = []
        for entry in self._store.access_for_consumer(who.orgno):
            scope = self._store.get_scope(entry.scope)
            if scope is None or (not scope.active and not inactive):
                continue
            if kind and kind not in scope.fields["allowed_integration_types"]:
                continue
            if self._approved_only and entry.state != "APPROVED":
                continue
            out.append(self._render_access(entry, scope, names))
        return self._listing(out, f"Organization {who.orgno} does not have any access to "
                                  "scopes")

    # helpers

    def _listing(self, items: list[dict[str, Any]], message: str) -> Response:
        if not items and self._empty_status is not None:
            raise problem(self._empty_status, message)
        return Response.json(200, items)

    def _own(self, who: Principal, name: str, req: Request, *, any_state: bool = False,
             missing_ok: bool = False) -> ScopeRow | None:
        row = self._store.get_scope(name)
        if row is not None and row.owner_orgno == who.orgno \
                and (row.active or any_state or req.flag("inactive")):
            return row
        if missing_ok:
            return None
        hidden = row is not None and row.owner_orgno == who.orgno
        detail = " is deactivated (use ?inactive=true to read it)" if hidden else \
            " not found among the organization's scopes"
        raise problem(404, f"scope {name}{detail}", error="not_found")

    def _write_access(self, scope: ScopeRow, consumer: str, state: str) -> AccessRow:
        entry = self._store.get_access(scope.name, consumer)
        if entry is not None and entry.state == state:
            return entry
        now = self._stamp(entry.last_updated if entry else None)
        row = AccessRow(scope.name, consumer, state, entry.created if entry else now, now)
        self._store.save_access(row)
        return row

    def _stamp(self, previous: float | None) -> float:
        now = round(self._clock(), 3)
        return now if previous is None or now > previous else round(previous + 0.001, 3)

    @staticmethod
    def _render(row: ScopeRow) -> dict[str, Any]:
        fields = dict(row.fields)
        out: dict[str, Any] = {"prefix": fields.pop("prefix"), "subscope": fields.pop("subscope"),
                               "name": row.name}
        out.update(fields)
        out.update({"owner_orgno": row.owner_orgno, "active": row.active,
                    "created": utc_timestamp(row.created),
                    "last_updated": utc_timestamp(row.last_updated)})
        return out

    @staticmethod
    def _render_access(entry: AccessRow, scope: ScopeRow,
                       names: Mapping[str, str]) -> dict[str, Any]:
        return {
            "scope": entry.scope,
            "owner_orgno": scope.owner_orgno,
            "owner_organization_name": names.get(scope.owner_orgno),
            "consumer_orgno": entry.consumer_orgno,
            "consumer_organization_name": names.get(entry.consumer_orgno),
            "state": entry.state,
            "created": utc_timestamp(entry.created),
            "last_updated": utc_timestamp(entry.last_updated),
        }


def _scope_param(req: Request) -> str:
    name = req.query.get("scope")
    if not name:
        raise problem(400, "the query parameter scope is required", "scope")
    return name


def _consumer(params: Params) -> str:
    consumer = params["consumer_orgno"]
    if not valid_orgno(consumer):
        raise problem(400, "must be 9 digits with a valid check digit", "consumer_orgno")
    return consumer



def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is required (a string)")
    return value
