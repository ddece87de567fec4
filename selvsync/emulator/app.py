"""The WSGI application: routing, authentication, counters and faults around the handlers."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from .control import ROOT, ControlSurface
from .counters import Counters
from .errors import ApiProblem, ConnectionDropped, FieldError, OAuthError, problem, problem_body
from .faults import ErrorShape, Fault, FaultSet, KeylessJwks
from .grant import GrantHandler
from .handlers import ClientApi
from .metadata import JWKS_PATH, authorization_server_metadata, metadata_paths, token_signing_keys
from .onbehalfof import OnBehalfOfApi
from .scopes import ScopeApi
from .tokens import (
    FULL_SCOPES,
    MODIFY,
    ONBEHALFOF,
    READ,
    SCOPES_READ,
    SCOPES_WRITE,
    WRITE,
    Principal,
    TokenRegistry,
)
from .wire import Request, Response

log = logging.getLogger("selvsync.emulator")

Handler = Callable[[Request, Principal, Mapping[str, str], float], Response]
StartResponse = Callable[..., Any]
TOKEN_PATH = "/token"
JWKS_TEMPLATE = "/clients/{id}/jwks"
# Who a public route (no scopes: None) acts for: nobody.
ANONYMOUS = Principal("", frozenset())


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    scopes: tuple[str, ...] | None
    handler: Handler
    pattern: re.Pattern[str]


def _routes(api: ClientApi, prefix: str, scopes: ScopeApi | None = None,
            obo: OnBehalfOfApi | None = None) -> list[Route]:
    change = (MODIFY, WRITE)
    table: list[tuple[str, str, tuple[str, ...] | None, Handler]] = [
        ("GET", "/clients", (READ,), api.list_clients),
        ("POST", "/clients", (WRITE,), api.create_client),
        ("GET", "/clients/{id}", (READ,), api.get_client),
        ("PUT", "/clients/{id}", change, api.update_client),
        ("DELETE", "/clients/{id}", change, api.deactivate_client),
        ("POST", "/clients/{id}/secret", change, api.rotate_secret),
        ("GET", JWKS_TEMPLATE, (READ,), api.get_jwks),
        ("POST", "/clients/{id}/jwks", change, api.put_jwks),
        ("PUT", "/clients/{id}/jwks", change, api.put_jwks),
        ("DELETE", "/clients/{id}/jwks", change, api.delete_jwks),
        ("GET", "/x-emulator/merchant", (READ,), api.list_merchant),
        ("GET", "/x-emulator/clients/{id}/merchant", (READ,), api.get_merchant),
        ("PUT", "/x-emulator/clients/{id}/merchant", change, api.put_merchant),
    ]
    if obo is not None:
        obo_write = (ONBEHALFOF, WRITE)
        table += [
            ("GET", "/clients/{id}/onbehalfof", (READ, ONBEHALFOF), obo.list_entries),
            ("POST", "/clients/{id}/onbehalfof", obo_write, obo.create_entry),
            ("GET", "/clients/{id}/onbehalfof/{obo}", (READ, ONBEHALFOF), obo.get_entry),
            ("PUT", "/clients/{id}/onbehalfof/{obo}", obo_write, obo.update_entry),
            ("DELETE", "/clients/{id}/onbehalfof/{obo}", obo_write, obo.delete_entry),
        ]
    if scopes is not None:
        read, write = (SCOPES_READ, SCOPES_WRITE), (SCOPES_WRITE,)
        table += [
            ("GET", "/prefix", read, scopes.list_prefixes),
            ("GET", "/delegationsources", read, scopes.delegation_sources),
            ("GET", "/scopes/all", None, scopes.catalogue),  # Digdir's public catalogue
            ("GET", "/scopes/access/all", (*read, READ), scopes.consumer_access),
            ("GET", "/scopes/access", read, scopes.list_access),
            ("PUT", "/scopes/access/{consumer_orgno}", write, scopes.grant_access),
            ("DELETE", "/scopes/access/{consumer_orgno}", write, scopes.revoke_access),
            ("GET", "/scopes/scope", read, scopes.get_scope),
            ("GET", "/scopes", read, scopes.list_scopes),
            ("POST", "/scopes", write, scopes.create_scope),
            ("PUT", "/scopes", write, scopes.update_scope),
            ("DELETE", "/scopes", write, scopes.deactivate_scope),
        ]
    routes = []
    for method, template, needs, handler in table:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(prefix + template))
        routes.append(Route(method, template, needs, handler, re.compile(regex)))
    return routes


def _routing_path(path: str) -> str:
    """The path routes are matched against: one trailing slash is ignored (``/clients/`` is
    ``/clients``), as older clients send it."""
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


class App:
    def __init__(self, api: ClientApi, grant: GrantHandler, tokens: TokenRegistry,
                 faults: FaultSet, counters: Counters, control: ControlSurface | None,
                 prefix: str, clock: Callable[[], float],
                 sleep: Callable[[float], None], *, issuer: str,
                 error_shape: ErrorShape = "modern",
                 keyless_jwks: KeylessJwks = "keys", scopes: ScopeApi | None = None,
                 onbehalfof: OnBehalfOfApi | None = None) -> None:
        self._routes = _routes(api, prefix, scopes, onbehalfof)
        self._issuer = issuer
        self._metadata_paths = metadata_paths(issuer)
        self.error_shape: ErrorShape = error_shape
        self.keyless_jwks: KeylessJwks = keyless_jwks
        self._grant = grant
        self._tokens = tokens
        self._faults = faults
        self._counters = counters
        self._control = control
        self._clock = clock
        self._sleep = sleep

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        response = self.handle(Request.from_environ(environ))
        start_response(response.status_line(), response.header_list())
        return [response.body]

    def handle(self, req: Request) -> Response:
        """Answer one request; raises ConnectionDropped when a fault says to hang up."""
        if req.path == ROOT or req.path.startswith(ROOT + "/"):
            if self._control is None:
                return self._problem(problem(404, "the control surface is disabled"))
            return self._control.handle(req)
        route, params, allowed = self._match(req)
        # Unrouted paths (the token endpoint, typos) count under their raw path.
        self._counters.increment(f"{req.method} {route.template if route else req.path}")
        pre = self._faults.before(req.method, req.path)
        if pre.delay > 0:
            self._sleep(pre.delay)
        if pre.rejection is not None:
            rejection = pre.rejection
            response = self._error_response(rejection.status, rejection.headers, rejection.body)
            return self._shape_error(req, response)
        response = self._dispatch(req, route, params, allowed, pre.list_lag)
        if route is not None and route.template == JWKS_TEMPLATE and req.method == "GET":
            response = self._shape_keyless(req, response)
        fault = self._faults.after(req.method, req.path)
        if fault is not None:
            response = self._damage(response, fault)
        return self._shape_error(req, response)

    def _public(self, path: str) -> tuple[str, Callable[[Request], Response]] | None:
        """The unauthenticated endpoints outside the prefix: method and handler."""
        if path == TOKEN_PATH:
            return "POST", self._token
        if path in self._metadata_paths:
            return "GET", self._metadata
        if path == JWKS_PATH:
            return "GET", lambda req: Response.json(200, token_signing_keys())
        return None

    def _match(self, req: Request) -> tuple[Route | None, dict[str, str], list[str]]:
        allowed: list[str] = []
        path = _routing_path(req.path)
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.method == req.method:
                return route, found.groupdict(), []
            allowed.append(route.method)
        public = self._public(path)
        if public is not None and public[0] != req.method:
            allowed.append(public[0])
        return None, {}, allowed

    def _dispatch(self, req: Request, route: Route | None, params: dict[str, str],
                  allowed: list[str], lag: float) -> Response:
        try:
            if route is not None:
                if route.scopes is None:
                    who = ANONYMOUS
                else:
                    who = self._tokens.authenticate(req.headers.get("authorization"))
                    who.require(*route.scopes)
                return route.handler(req, who, params, lag)
            public = self._public(_routing_path(req.path))
            if public is not None and public[0] == req.method:
                return public[1](req)
            if allowed:
                raise problem(405, f"{req.method} is not allowed here",
                              headers={"Allow": ", ".join(allowed)})
            raise problem(404, f"no resource at {req.path}")
        except ApiProblem as exc:
            return self._problem(exc)
        except Exception:
            log.exception("emulator handler failed for %s %s", req.method, req.path)
            return self._error_response(500, {}, None)

    def _token(self, req: Request) -> Response:
        try:
            body = self._grant.exchange(req.form())
        except OAuthError as exc:
            return Response.json(exc.status, exc.body(), {"Cache-Control": "no-store"})
        return Response.json(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _metadata(self, req: Request) -> Response:
        return Response.json(200, authorization_server_metadata(
            self._issuer, req.base_url, list(FULL_SCOPES)))

    def _shape_keyless(self, req: Request, response: Response) -> Response:
        if response.status != 200 or json.loads(response.body) != {"keys": []}:
            return response
        if (self.keyless_jwks == "empty"
                or self._faults.shaping("keyless_jwks", req.method, req.path) is not None):
            return Response.json(200, {}, {k: v for k, v in response.headers.items()
                                           if k != "Content-Type"})
        return response

    def _shape_error(self, req: Request, response: Response) -> Response:
        """Write a Digdir error body in the configured shape, or a matching fault's."""
        if response.status < 400 or not response.headers.get(
                "Content-Type", "").startswith("application/json"):
            return response
        try:
            body = json.loads(response.body)
        except ValueError:
            return response  # damaged on purpose (truncate)
        if not isinstance(body, dict) or "errors" not in body:
            return response  # the token endpoint's OAuth errors have their own shape
        fault = self._faults.shaping("error_shape", req.method, req.path)
        shape = fault.shape if fault is not None else self.error_shape
        headers = {k: v for k, v in response.headers.items() if k != "Content-Type"}
        if shape == "plain":
            return Response(response.status, str(body["error_description"]).encode(),
                            {"Content-Type": "text/plain; charset=utf-8", **headers})
        if shape == "messages":
            return Response.json(response.status,
                                 {**body, "error": body["error_description"]}, headers)
        return response

    def _problem(self, exc: ApiProblem) -> Response:
        return Response.json(exc.status, exc.body(self._clock()), exc.headers)

    def _error_response(self, status: int, headers: dict[str, str],
                        body: str | None) -> Response:
        if body is not None:
            return Response(status, body.encode(),
                            {"Content-Type": "text/plain; charset=utf-8", **headers})
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = f"HTTP {status}"
        payload = problem_body(status, [FieldError(message)], self._clock())
        return Response.json(status, payload, headers)

    def _damage(self, response: Response, fault: Fault) -> Response:
        if fault.kind == "drop":
            raise ConnectionDropped(f"fault {fault.id}: connection dropped after commit")
        if fault.kind == "truncate":
            cut = max(1, len(response.body) // 2) if response.body else 0
            return Response(response.status, response.body[:cut], dict(response.headers))
        return self._error_response(fault.status or 502, {}, fault.body)
