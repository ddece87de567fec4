"""``Emulator``: the pieces wired together, and the Python API tests and the CLI use."""

from __future__ import annotations

import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import httpx

from .app import App
from .control import ControlSurface
from .counters import Counters
from .faults import ERROR_SHAPES, KEYLESS_JWKS, ErrorShape, FaultSet, KeylessJwks
from .grant import GrantHandler, load_admin_client
from .handlers import ClientApi
from .onbehalfof import OnBehalfOfApi
from .scopes import ScopeApi
from .scopestore import ScopeStore
from .store import Store
from .tokens import FULL_SCOPES, TokenRegistry
from .transport import EmulatorTransport

DEFAULT_ISSUER = "https://emulator.selvsync.invalid/"


def _default_secret() -> str:
    return secrets.token_urlsafe(32)


class Emulator:
    """A local Digdir self-service API plus a Maskinporten token endpoint.

    ``seed`` makes client ids, list shuffling and latency jitter repeatable; ``clock`` and
    ``sleep`` let tests move time without waiting. ``control`` enables ``/_emulator/``.
    ``error_shape`` (modern, messages, plain) and ``keyless_jwks`` (keys, empty) pick among
    the answer shapes Digdir has used; faults of the same names override them per request.
    ``ansattporten_sso_forced`` (on by default) makes ansattporten clients store
    ``sso_disabled: true`` whatever is sent, as Digdir does; off stores what is sent.
    """

    def __init__(self, db: str | Path = ":memory:", *, prefix: str = "/api/v1",
                 issuer: str = DEFAULT_ISSUER, shuffle_lists: bool = False,
                 seed: int | None = None, control: bool = True,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 secret_factory: Callable[[], str] = _default_secret,
                 token_lifetime: int = 120, max_skew: float = 10.0,
                 error_shape: ErrorShape = "modern",
                 keyless_jwks: KeylessJwks = "keys",
                 ansattporten_sso_forced: bool = True,
                 empty_list_status: int | None = 404, foreign_client_status: int = 403,
                 onbehalfof_spelling: Literal["name", "display_name"] = "name",
                 scope_query_list: bool = False,
                 consumer_access_approved_only: bool = False) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError("prefix must start with '/' and not end with one, e.g. /api/v1")
        if error_shape not in ERROR_SHAPES or keyless_jwks not in KEYLESS_JWKS:
            raise ValueError(f"error_shape must be one of {', '.join(sorted(ERROR_SHAPES))} and "
                             f"keyless_jwks one of {', '.join(sorted(KEYLESS_JWKS))}")
        self.prefix = prefix
        self.issuer = issuer
        self.clock = clock
        self._rng = random.Random(seed)
        self._seeded = seed is not None
        self.store = Store(db)
        self.tokens = TokenRegistry(self.store, clock)
        self.grant = GrantHandler(self.store, self.tokens, clock, issuer, max_skew=max_skew,
                                  token_lifetime=token_lifetime)
        self.faults = FaultSet(clock, random.Random(self._rng.random()))
        self._counters = Counters()
        api = ClientApi(self.store, clock, prefix, new_id=self._new_id,
                        secret_factory=secret_factory,
                        shuffle=random.Random(self._rng.random()) if shuffle_lists else None,
                        ansattporten_sso_forced=ansattporten_sso_forced,
                        foreign_status=foreign_client_status)
        scope_store = ScopeStore(self.store)
        self.scopes = ScopeApi(scope_store, clock, empty_list_status=empty_list_status,
                               scope_query_list=scope_query_list,
                               consumer_access_approved_only=consumer_access_approved_only)
        onbehalfof = OnBehalfOfApi(scope_store, api, clock, spelling=onbehalfof_spelling)
        api.onbehalfof = onbehalfof.entries_for
        surface = ControlSurface(self.faults, self._counters, self.scopes.control)
        self._app = App(api, self.grant, self.tokens, self.faults, self._counters,
                        surface if control else None, prefix, clock, sleep,
                        issuer=issuer, error_shape=error_shape, keyless_jwks=keyless_jwks,
                        scopes=self.scopes, onbehalfof=onbehalfof)

    def _new_id(self) -> str:
        if self._seeded:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        return str(uuid.uuid4())

    def add_admin_client(self, client_id: str, orgno: str, scopes: Iterable[str] = FULL_SCOPES,
                         certificates: Iterable[bytes | str] = (),
                         jwks: Iterable[Mapping[str, Any]] = ()) -> None:
        """Let ``client_id`` get tokens for ``orgno`` at ``POST /token``, signing with a
        certificate that is, or is directly issued by, one of ``certificates`` (PEM), or
        with a key from ``jwks`` (public JWKs) named by ``kid``."""
        self.grant.add(load_admin_client(client_id, orgno, scopes, certificates, jwks))

    def add_token(self, token: str, orgno: str, scopes: Iterable[str] = FULL_SCOPES) -> None:
        """Accept ``token`` as a bearer token for ``orgno`` with ``scopes``, forever."""
        self.tokens.add_static(token, orgno, scopes)

    def add_prefix(self, orgno: str, prefix: str) -> None:
        """Give ``orgno`` the scope prefix ``prefix`` (Digdir does this by hand)."""
        self.scopes.add_prefix(orgno, prefix)

    def add_organization(self, orgno: str, name: str) -> None:
        """Name ``orgno`` in access entries' ``*_organization_name``."""
        self.scopes.add_organisation(orgno, name)

    def request_access(self, scope: str, consumer_orgno: str) -> dict[str, Any]:
        """``consumer_orgno`` asks for access to ``scope``: an entry in state REQUESTED."""
        return self.scopes.set_access_state(scope, consumer_orgno, "REQUESTED")

    def deny_access(self, scope: str, consumer_orgno: str) -> dict[str, Any]:
        """The entry of ``consumer_orgno`` on ``scope`` becomes DENIED (created if absent)."""
        return self.scopes.set_access_state(scope, consumer_orgno, "DENIED")

    @property
    def wsgi(self) -> App:
        return self._app

    def transport(self) -> httpx.BaseTransport:
        return EmulatorTransport(self._app)

    def counters(self) -> dict[str, int]:
        return self._counters.snapshot()

    def reset_counters(self) -> None:
        self._counters.reset()

    def save(self, path: str | Path) -> None:
        """Write a copy of the state (clients, keys, secrets' digests) to a SQLite file, which
        `selvsync emulator --db PATH` can serve from another process. Tokens, admin clients,
        faults and counters live in memory and are not copied."""
        self.store.save(path)

    def close(self) -> None:
        self.store.close()
