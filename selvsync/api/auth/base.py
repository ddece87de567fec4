"""What every way of authenticating shares: the token provider interface, scopes, settings.

This module sits below its users: the sender asks a :class:`TokenProvider` for tokens
without knowing how they are made, and each method's builder
(:data:`selvsync.api.auth.PROVIDERS`) reads its ``auth:`` mapping through the helpers here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx

from selvsync.api.errors import CredentialsError
from selvsync.api.retry import RetryPolicy
from selvsync.model import READ_SCOPES, SUPPLIER_SCOPE, WRITE_SCOPES, WRITE_SCOPES_ALLOWED

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@runtime_checkable
class TokenProvider(Protocol):
    """Something that hands out access tokens for Digdir's API."""

    def access_token(self, scopes: Sequence[str]) -> str:
        """A valid access token carrying ``scopes``. Cached; thread-safe."""
        ...

    def invalidate(self, token: str | None = None) -> None:
        """Forget ``token`` (or every cached token) because the API rejected it."""
        ...


@dataclass(frozen=True)
class BuildContext:
    """What a builder needs besides the ``auth:`` mapping: where, and how to reach it."""

    project_dir: Path
    issuer: str
    token_endpoint: str
    environ: Mapping[str, str]
    transport: httpx.BaseTransport | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    retry: RetryPolicy | None = None


class Builder(Protocol):
    """Makes the token provider for one method from a validated ``auth:`` mapping."""

    def __call__(self, settings: Mapping[str, Any], context: BuildContext) -> TokenProvider: ...


def scopes_for(
    settings: Mapping[str, Any], command: str, *, supplier: bool = False
) -> tuple[str, ...]:
    """The scopes ``command`` asks for. Only "apply" (apply, rotate-secret, merchant confirm)
    gets write scopes; `auth.scopes.apply` in YAML may narrow them, never widen (the config
    check refuses anything else, and this filter holds even if it were bypassed).

    ``supplier``: the credential acts for other organisations (decided by `organisations:`
    and `supplier: true`, never by a scope list in YAML), so every command also asks for
    ``idporten:dcr.supplier``: without it Digdir lists only the supplier's own clients."""
    extra = (SUPPLIER_SCOPE,) if supplier else ()
    if command != "apply":
        return READ_SCOPES + extra
    configured = settings.get("scopes") or {}
    wanted = configured.get("apply") if isinstance(configured, Mapping) else None
    if not wanted:
        return WRITE_SCOPES + extra
    narrowed = (s for s in dict.fromkeys(str(s) for s in wanted) if s in WRITE_SCOPES_ALLOWED)
    return (*narrowed, *extra)


def resolve(project_dir: Path, value: str) -> Path:
    """A path from selvsync.yaml: ``~`` expanded, relative to the project directory."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else project_dir / path


CA_BUNDLE_VARIABLE = "SELVSYNC_CA_BUNDLE"


def ca_bundle_from(environ: Mapping[str, str]) -> str | None:
    """Extra trusted CA certificates (a TLS-inspecting proxy), from the process environment.

    A trust anchor decides who may receive credentials, so it never comes from YAML (which
    a pull request controls): only ``SELVSYNC_CA_BUNDLE`` (and httpx's ``SSL_CERT_FILE``)."""
    value = environ.get(CA_BUNDLE_VARIABLE)
    return str(Path(value).expanduser()) if value else None


def require(settings: Mapping[str, Any], key: str, method: str) -> str:
    """The string setting ``key`` that ``method`` cannot do without."""
    value = settings.get(key)
    if not isinstance(value, str) or not value:
        raise CredentialsError(f"auth: method {method} needs '{key}' in selvsync.yaml")
    return value
