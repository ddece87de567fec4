"""The token endpoint from the issuer's RFC 8414 metadata, for environments that name only
``issuer``.

``GET {issuer}.well-known/oauth-authorization-server`` answers ``{"issuer", "token_endpoint",
...}``. selvsync fetches it once per run and issuer (:class:`TokenEndpoints` is the run's
cache), before any grant is signed, and takes ``token_endpoint`` from it; the grant's ``aud``
stays the issuer. The issuer was checked against the trusted hosts when ``selvsync.yaml`` was
validated; the discovered endpoint is checked here, because the signed grant goes there: an
endpoint outside the trusted hosts fails the run (exit 1, :class:`DiscoveryError`) and nothing
is signed or sent to it. The rule itself (``selvsync.config.trust.untrusted_reason``) is
handed in as ``untrusted``: this layer does not read configuration.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx

from selvsync.api.errors import InvalidResponseError, escape_controls
from selvsync.api.http import new_http_client
from selvsync.api.retry import (
    RETRYABLE_STATUSES,
    Failed,
    RetryBudget,
    RetryPolicy,
    network_failure,
    run_attempts,
)

METADATA_NAME = ".well-known/oauth-authorization-server"

log = logging.getLogger("selvsync.http")


class DiscoveryError(InvalidResponseError):
    """The issuer's metadata is unusable, or names a token endpoint selvsync will not trust."""


def metadata_url(issuer: str) -> str:
    """``{issuer}.well-known/oauth-authorization-server`` (Digdir's issuers end in ``/``)."""
    return (issuer if issuer.endswith("/") else issuer + "/") + METADATA_NAME


Untrusted = Callable[[str], str | None]  # why credentials may not go to a URL, or None


def discover_token_endpoint(
    issuer: str,
    *,
    untrusted: Untrusted,
    transport: httpx.BaseTransport | None = None,
    ca_bundle: str | None = None,
    retry: RetryPolicy | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 30.0,
) -> str:
    """The trusted ``token_endpoint`` of ``issuer``'s metadata. Raises :class:`DiscoveryError`
    (bad metadata, untrusted endpoint) or :class:`NetworkError` (after retries)."""
    url = metadata_url(issuer)
    path = httpx.URL(url).path
    policy = retry or RetryPolicy()
    with new_http_client(url, transport=transport, ca_bundle=ca_bundle, timeout=timeout) as http:

        def attempt(number: int) -> httpx.Response | Failed:
            started = time.monotonic()
            try:
                response = http.get(url)
                response.read()
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__} ({exc})"
                return _failed(url, path, number, started, why)
            if response.status_code in RETRYABLE_STATUSES or response.status_code >= 500:
                return _failed(
                    url, path, number, started, f"status {response.status_code}",
                    status=response.status_code,
                    retry_after=response.headers.get("Retry-After"),
                )
            return response

        def announce(failed: Failed, number: int, delay: float) -> None:
            log.info("GET %s: %s; retrying in %.1f s", path, failed.why, delay)

        response = run_attempts(
            attempt,
            policy=policy,
            budget=RetryBudget(policy.budget_seconds),
            clock=clock,
            sleep=sleep,
            method="GET",
            path=path,
            on_retry=announce,
        )
    return _token_endpoint(issuer, url, path, response, untrusted)


def _failed(
    url: str,
    path: str,
    attempt: int,
    started: float,
    why: str,
    *,
    status: int | None = None,
    retry_after: str | None = None,
) -> Failed:
    return network_failure(
        f"could not read the authorization-server metadata at {url}",
        method="GET",
        path=path,
        attempt=attempt,
        started=started,
        why=why,
        status=status,
        retry_after=retry_after,
    )


def _token_endpoint(
    issuer: str,
    url: str,
    path: str,
    response: httpx.Response,
    untrusted: Untrusted,
) -> str:
    def fail(why: str) -> DiscoveryError:
        return DiscoveryError(
            f"{url}: {why}; set token_endpoint for this environment in selvsync.yaml to skip "
            "discovery",
            method="GET",
            path=path,
            status=response.status_code,
        )

    if response.status_code != 200:
        raise fail(f"answered {response.status_code} instead of the metadata")
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise fail("the answer is not a JSON object")
    named = data.get("issuer")
    if named != issuer:
        # RFC 8414 section 3.3: the metadata's issuer must be the one asked for; it is also
        # the aud of every grant, so a mismatch could only end in refused grants.
        shown = escape_controls(str(named))[:200] if isinstance(named, str) else "no issuer"
        raise fail(f"the metadata names {shown!r}, not the configured issuer {issuer!r}")
    endpoint = data.get("token_endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise fail("the metadata has no token_endpoint")
    endpoint = escape_controls(endpoint)
    reason = untrusted(endpoint)
    if reason is not None:
        host = httpx.URL(endpoint).host if endpoint.startswith(("http://", "https://")) else ""
        raise DiscoveryError(
            f"{url} names token endpoint {endpoint[:200]}, which selvsync does not trust: "
            f"{reason}. No grant was signed or sent to it. Set token_endpoint in "
            "selvsync.yaml, or trust the host outside the repository: "
            f"SELVSYNC_TRUSTED_HOSTS={host or '<host>'} in the environment of the process",
            method="GET",
            path=path,
            status=response.status_code,
        )
    log.info("discovered token endpoint %s for issuer %s", endpoint, issuer)
    return endpoint


class TokenEndpoints:
    """One run's discovered token endpoints: each issuer's metadata is fetched once."""

    def __init__(self, fetch: Callable[..., str] = discover_token_endpoint) -> None:
        self._fetch = fetch
        self._found: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, issuer: str, **options: object) -> str:
        with self._lock:
            if issuer not in self._found:
                self._found[issuer] = self._fetch(issuer, **options)
            return self._found[issuer]
