"""Bearer tokens: static ones configured for local use and tests, and those the token
endpoint issues. Only hashes of issued tokens are stored; tokens never appear in errors."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import ApiProblem, problem
from .store import Store

READ = "idporten:dcr.read"
WRITE = "idporten:dcr.write"
MODIFY = "idporten:dcr.modify"
SUPPLIER = "idporten:dcr.supplier"
ONBEHALFOF = "idporten:dcr/onbehalfof:write"
SCOPES_READ = "idporten:scopes.read"
SCOPES_WRITE = "idporten:scopes.write"
FULL_SCOPES: tuple[str, ...] = (READ, WRITE, MODIFY, SUPPLIER, ONBEHALFOF, SCOPES_READ,
                                SCOPES_WRITE)


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the organisation in its token, and the token's scopes."""

    orgno: str
    scopes: frozenset[str]

    def require(self, *any_of: str) -> None:
        if not self.scopes & set(any_of):
            raise problem(403, f"the token lacks the scope {' or '.join(any_of)}",
                          headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _unauthorized(message: str) -> ApiProblem:
    return problem(401, message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class TokenRegistry:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._static: dict[str, Principal] = {}

    def add_static(self, token: str, orgno: str, scopes: Iterable[str]) -> None:
        with self._lock:
            self._static[_hash(token)] = Principal(orgno, frozenset(scopes))

    def issue(self, orgno: str, scopes: Iterable[str], lifetime: int) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        self._store.save_token(_hash(token), orgno, scopes, now + lifetime, now)
        return token

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise _unauthorized("an Authorization: Bearer token is required")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("the Authorization header must be 'Bearer <token>'")
        digest = _hash(token)
        with self._lock:
            static = self._static.get(digest)
        if static is not None:
            return static
        found = self._store.find_token(digest)
        if found is None:
            raise _unauthorized("the access token is not valid")
        orgno, scopes, expires = found
        if expires <= self._clock():
            raise _unauthorized("the access token has expired")
        return Principal(orgno, scopes)
