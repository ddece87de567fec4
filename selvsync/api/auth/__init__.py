"""Access tokens for Digdir's self-service API: the registry of ``auth.method`` values.

The organisation's admin client ("selvbetjeningsklient") authenticates in one of the ways
listed in :data:`PROVIDERS`, chosen by the environment's ``auth:`` mapping in
``selvsync.yaml`` (see docs/authentication.md):

* ``certificate``: a Maskinporten grant signed with the enterprise certificate's key,
  carrying the certificate chain in ``x5c`` (:mod:`.maskinporten`);
* ``key``: a Maskinporten grant signed with a key registered on the admin client, named by
  ``kid`` (:mod:`.maskinporten`);
* ``token``: a pre-issued bearer token from an environment variable (:mod:`.static`).

A new method is one row in :data:`PROVIDERS` plus its module; the ``method`` enum of
``selvsync/schemas/selvsync.schema.json`` is checked against the table by a unit test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from selvsync.api.auth.base import (
    GRANT_TYPE,
    BuildContext,
    Builder,
    TokenProvider,
    ca_bundle_from,
    resolve,
    scopes_for,
)
from selvsync.api.auth.maskinporten import (
    MaskinportenTokenProvider,
    Signer,
    build_certificate,
    build_key,
)
from selvsync.api.auth.static import StaticTokenProvider, build_static
from selvsync.api.errors import CredentialsError
from selvsync.api.retry import RetryPolicy
from selvsync.model import AUTH_METHODS, READ_SCOPES, WRITE_SCOPES

__all__ = [
    "GRANT_TYPE",
    "PROVIDERS",
    "READ_SCOPES",
    "WRITE_SCOPES",
    "AuthMethod",
    "BuildContext",
    "MaskinportenTokenProvider",
    "Signer",
    "StaticTokenProvider",
    "TokenProvider",
    "build_token_provider",
    "ca_bundle_from",
    "resolve",
    "scopes_for",
]

# Settings that would hold a secret in selvsync.yaml itself; secrets come from files and
# environment variables only.
_LITERAL_SECRETS = frozenset({"password", "token", "secret", "client_secret"})


@dataclass(frozen=True)
class AuthMethod:
    """One ``auth.method``: how to build its provider, and what config checks need to know."""

    build: Builder
    requires: tuple[str, ...]  # settings it cannot do without (whatever else it reads)
    grant: bool  # a Maskinporten grant: needs the environment's issuer and token_endpoint

    def __call__(self, settings: Mapping[str, Any], context: BuildContext) -> TokenProvider:
        return self.build(settings, context)


_BUILDERS: dict[str, Builder] = {
    "certificate": build_certificate,
    "key": build_key,
    "token": build_static,
}

PROVIDERS: dict[str, AuthMethod] = {
    name: AuthMethod(_BUILDERS[name], spec.requires, spec.grant)
    for name, spec in AUTH_METHODS.items()
}


def build_token_provider(
    settings: Mapping[str, Any],
    *,
    project_dir: Path,
    issuer: str,
    token_endpoint: str,
    environ: Mapping[str, str],
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryPolicy | None = None,
) -> TokenProvider:
    """A token provider for one environment's validated ``auth:`` mapping.

    Secrets come only from files (checked to be private to the owner) and environment
    variables. Raises :class:`CredentialsError` naming the setting, file or variable.
    """
    literal = sorted(_LITERAL_SECRETS & settings.keys())
    if literal:
        raise CredentialsError(
            f"auth: literal secrets in selvsync.yaml are refused ({', '.join(literal)}); "
            "name an environment variable instead (password_env, token_env)"
        )
    method = settings.get("method")
    entry = PROVIDERS.get(method) if isinstance(method, str) else None
    if entry is None:
        raise CredentialsError(f"auth: unknown method {method!r}; use {_method_names()}")
    context = BuildContext(
        project_dir=project_dir,
        issuer=issuer,
        token_endpoint=token_endpoint,
        environ=environ,
        transport=transport,
        clock=clock,
        sleep=sleep,
        retry=retry,
    )
    return entry(settings, context)


def _method_names() -> str:
    """``certificate, key or token``: the registered methods, for messages."""
    names = list(PROVIDERS)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
