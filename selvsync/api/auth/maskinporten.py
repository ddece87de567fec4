"""Maskinporten's JWT-bearer grant (RFC 7523): ``method: certificate`` and ``method: key``.

The assertion is signed either with the enterprise certificate's key, carrying the
certificate chain in ``x5c`` (PKCS#12 file, or PEM key + PEM chain), or with a key
registered on the admin client, named by ``kid``.

Tokens are opaque, cached per scope set until shortly before they expire, and fetched
by one thread at a time so a worker pool asking at once causes one token request.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from selvsync.api.auth.base import GRANT_TYPE, BuildContext, ca_bundle_from, require, resolve
from selvsync.api.auth.credentials import (
    RsaKey,
    load_chain,
    load_pkcs12,
    load_private_key,
    secret_from_env,
    x5c_header,
)
from selvsync.api.errors import (
    AuthenticationError,
    CredentialsError,
    parse_error_body,
)
from selvsync.api.http import new_http_client
from selvsync.api.retry import (
    RETRYABLE_STATUSES,
    Failed,
    RetryBudget,
    RetryPolicy,
    network_failure,
    run_attempts,
)
from selvsync.sensitive.redact import register
from selvsync.sensitive.value import Secret

# Maskinporten rejects assertions living longer than 120 s.
MAX_ASSERTION_LIFETIME = 120
# Maskinporten's descriptions for assertions rejected on time ("iat is in the future",
# "JWT has expired", ...). Certificate validity has its own hint below.
_CLOCK_HINT = re.compile(
    r"\b(iat|exp|nbf)\b|expired|in the future|not yet valid|clock|skew|too old",
    re.IGNORECASE,
)

log = logging.getLogger("selvsync.http")


@dataclass(frozen=True)
class Signer:
    """Signs grant assertions: RS256 with either an ``x5c`` chain or a ``kid``."""

    private_key: RsaKey
    x5c: tuple[str, ...] = ()
    kid: str | None = None

    def __post_init__(self) -> None:
        if bool(self.x5c) == bool(self.kid):
            raise ValueError("a Signer needs exactly one of x5c and kid")

    def sign(self, claims: Mapping[str, Any]) -> str:
        headers: dict[str, Any] = {"x5c": list(self.x5c)} if self.x5c else {"kid": self.kid}
        return jwt.encode(dict(claims), self.private_key, algorithm="RS256", headers=headers)


@dataclass
class _Cached:
    token: str
    refresh_at: float


class MaskinportenTokenProvider:
    """JWT-bearer grant against Maskinporten, with caching per scope set."""

    def __init__(
        self,
        client_id: str,
        *,
        issuer: str,
        token_endpoint: str,
        signer: Signer,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
        ca_bundle: str | None = None,
        timeout: float = 30.0,
        refresh_margin: float = 30.0,
        assertion_lifetime: int = MAX_ASSERTION_LIFETIME,
        mode: str = "certificate",
    ) -> None:
        if not 0 < assertion_lifetime <= MAX_ASSERTION_LIFETIME:
            raise ValueError(f"assertion_lifetime must be 1..{MAX_ASSERTION_LIFETIME} s")
        self.refreshable = True
        self.client_id = client_id
        self.issuer = issuer
        self.token_endpoint = token_endpoint
        self.description = f"admin client {client_id} ({mode} grant at {token_endpoint})"
        self._signer = signer
        self._clock = clock
        self._sleep = sleep
        self._retry = retry or RetryPolicy()
        self._budget = RetryBudget(self._retry.budget_seconds)
        self._margin = refresh_margin
        self._lifetime = assertion_lifetime
        self._cache: dict[tuple[str, ...], _Cached] = {}
        # One lock for cache and fetch: eight workers asking at once cause one request.
        self._lock = threading.Lock()
        self._http = new_http_client(
            token_endpoint, transport=transport, ca_bundle=ca_bundle, timeout=timeout
        )
        self.request_count = 0

    def close(self) -> None:
        self._http.close()

    def access_token(self, scopes: Sequence[str]) -> str:
        key = tuple(sorted(set(scopes)))
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.token
            fresh = self._fetch(key)
            self._cache[key] = fresh
            return fresh.token

    def invalidate(self, token: str | None = None) -> None:
        with self._lock:
            for key, cached in list(self._cache.items()):
                if token is None or cached.token == token:
                    del self._cache[key]

    def _assertion(self, scopes: tuple[str, ...]) -> str:
        iat = int(self._clock())
        claims = {
            "aud": self.issuer,
            "iss": self.client_id,
            "scope": " ".join(scopes),
            "iat": iat,
            "exp": iat + self._lifetime,
            "jti": str(uuid.uuid4()),  # fresh for every attempt: reuse is rejected
        }
        # Not registered with the redactor: an assertion is a JWT, which redaction catches
        # by shape, and registering every one would bloat the registry for nothing.
        return self._signer.sign(claims)

    def _fetch(self, scopes: tuple[str, ...]) -> _Cached:
        path = httpx.URL(self.token_endpoint).path or "/"

        def announce(failed: Failed, attempt: int, delay: float) -> None:
            log.info("POST %s: %s; retrying in %.1f s", path, failed.why, delay)

        # A grant has no side effect beyond issuing a token, and each attempt carries a fresh
        # jti, so repeating it is always safe.
        return run_attempts(
            functools.partial(self._attempt, scopes, path),
            policy=self._retry,
            budget=self._budget,
            clock=self._clock,
            sleep=self._sleep,
            method="POST",
            path=path,
            on_retry=announce,
        )

    def _attempt(self, scopes: tuple[str, ...], path: str, attempt: int) -> _Cached | Failed:
        """One grant request: a token, a failure worth another attempt, or a refusal raised."""
        started = time.monotonic()
        self.request_count += 1
        form = {"grant_type": GRANT_TYPE, "assertion": self._assertion(scopes)}
        try:
            response = self._http.post(self.token_endpoint, data=form)
            response.read()
        except httpx.TransportError as exc:
            return self._failed(path, attempt, started, f"{type(exc).__name__} ({exc})")
        status = response.status_code
        log.debug(
            "POST %s -> %s in %.0f ms (token request, attempt %d)",
            path, status, (time.monotonic() - started) * 1000, attempt,
        )
        if status == 200:
            return self._parse(response, scopes)
        if status not in RETRYABLE_STATUSES and status < 500:
            raise self._refusal(response, scopes)
        return self._failed(
            path, attempt, started, f"status {status}",
            status=status, retry_after=response.headers.get("Retry-After"),
        )

    def _failed(
        self,
        path: str,
        attempt: int,
        started: float,
        why: str,
        *,
        status: int | None = None,
        retry_after: str | None = None,
    ) -> Failed:
        return network_failure(
            f"could not get an access token from {self.token_endpoint}",
            method="POST",
            path=path,
            attempt=attempt,
            started=started,
            why=why,
            status=status,
            retry_after=retry_after,
        )

    def _parse(self, response: httpx.Response, scopes: tuple[str, ...]) -> _Cached:
        try:
            data = response.json()
        except ValueError:
            data = None
        token = data.get("access_token") if isinstance(data, dict) else None
        expires_in = data.get("expires_in", 120) if isinstance(data, dict) else None
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise AuthenticationError(
                f"{self.token_endpoint} answered 200 without a usable access_token/expires_in",
                method="POST", path=response.url.path, status=200,
            )
        register(token)
        token_type = data.get("token_type", "Bearer") if isinstance(data, dict) else "Bearer"
        if str(token_type).lower() != "bearer":
            raise AuthenticationError(
                f"{self.token_endpoint} issued a {token_type!s} token; selvsync needs Bearer",
                method="POST", path=response.url.path, status=200,
            )
        # Reuse until shortly before expiry; very short lifetimes keep half as margin.
        margin = min(self._margin, float(expires_in) / 2)
        log.info("got an access token for %s, valid %d s", " ".join(scopes), int(expires_in))
        return _Cached(token, self._clock() + float(expires_in) - margin)

    def _refusal(self, response: httpx.Response, scopes: tuple[str, ...]) -> AuthenticationError:
        body = parse_error_body(response.content, response.headers.get("content-type", ""))
        detail = body.summary() or f"status {response.status_code}"
        code = body.error or ""
        message = (
            f"Maskinporten ({self.token_endpoint}) refused the JWT grant for admin client "
            f"{self.client_id}: {code + ': ' if code else ''}{detail}"
        )
        text = f"{code} {detail}"
        if _CLOCK_HINT.search(text) and "certificate" not in text.lower():
            message += (
                ". The assertion's time claims were rejected: check the machine's clock (NTP); "
                "Maskinporten allows only about 10 s of skew"
            )
        elif code == "invalid_scope" or "scope" in text.lower():
            message += (
                f". Requested scopes: {' '.join(scopes)}. Ask Digdir to grant them to the "
                "admin client, or narrow auth.scopes in selvsync.yaml"
            )
        elif code in ("invalid_client", "invalid_grant", "unauthorized_client"):
            message += (
                ". Check that client_id is the admin client of this environment and that its "
                "certificate or key is registered there (test certificates are rejected in "
                "prod and vice versa; a new key can take minutes to be accepted)"
            )
        return AuthenticationError(
            message,
            method="POST",
            path=response.url.path,
            status=response.status_code,
            error=body.error,
            error_description=body.error_description,
            correlation_id=body.correlation_id,
        )


def build_certificate(
    settings: Mapping[str, Any], context: BuildContext
) -> MaskinportenTokenProvider:
    """``method: certificate``: a PKCS#12 file, or a PEM key with its PEM chain."""
    client_id = require(settings, "client_id", "certificate")
    password = _password(settings, context)
    if settings.get("pkcs12"):
        if password is None:
            raise CredentialsError("auth: a pkcs12 file needs password_env naming its password")
        key, chain = load_pkcs12(resolve(context.project_dir, str(settings["pkcs12"])), password)
    else:
        key = load_private_key(
            resolve(context.project_dir, require(settings, "private_key", "certificate")),
            password,
        )
        chain = load_chain(
            resolve(context.project_dir, require(settings, "certificate", "certificate")), key
        )
    signer = Signer(key, x5c=x5c_header(chain, now=context.clock()))
    return _provider(settings, context, client_id, signer, "certificate")


def build_key(settings: Mapping[str, Any], context: BuildContext) -> MaskinportenTokenProvider:
    """``method: key``: a PEM key registered on the admin client, named by ``kid``."""
    client_id = require(settings, "client_id", "key")
    password = _password(settings, context)
    kid = require(settings, "kid", "key")
    key = load_private_key(
        resolve(context.project_dir, require(settings, "private_key", "key")), password
    )
    return _provider(settings, context, client_id, Signer(key, kid=kid), "key")


def _password(settings: Mapping[str, Any], context: BuildContext) -> Secret | None:
    if not settings.get("password_env"):
        return None
    name = str(settings["password_env"])
    return secret_from_env(context.environ, name, "the key or PKCS#12 password")


def _provider(
    settings: Mapping[str, Any],
    context: BuildContext,
    client_id: str,
    signer: Signer,
    method: str,
) -> MaskinportenTokenProvider:
    return MaskinportenTokenProvider(
        client_id,
        issuer=context.issuer,
        token_endpoint=context.token_endpoint,
        signer=signer,
        transport=context.transport,
        clock=context.clock,
        sleep=context.sleep,
        retry=context.retry,
        ca_bundle=ca_bundle_from(context.environ),
        mode=method,
    )
