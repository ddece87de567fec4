"""The hardened httpx client every request to Digdir or Maskinporten goes through.

TLS verification is always on (a custom CA bundle adds to the public roots, never replaces
them), plain http is allowed only to this machine or an in-process transport, redirects are
never followed, and the connection pool is bounded.
"""

from __future__ import annotations

import ssl

import certifi
import httpx

from selvsync.errors import ConfigError, Diagnostic
from selvsync.rules.uris import is_loopback

USER_AGENT = "selvsync/0.1"


def check_url(url: str, *, transport_injected: bool) -> None:
    """Allow https everywhere; plain http only to loopback or an in-process transport."""
    parsed = httpx.URL(url)
    if parsed.scheme == "https":
        return
    if parsed.scheme == "http" and (transport_injected or is_loopback(parsed.host)):
        return
    raise ConfigError(
        [
            Diagnostic(
                None,
                "api",
                f"refusing {url}: only https:// is allowed, and http:// only to this machine "
                "(localhost, 127.0.0.0/8, ::1)",
            )
        ]
    )


def new_http_client(
    base_url: str,
    *,
    transport: httpx.BaseTransport | None = None,
    ca_bundle: str | None = None,
    timeout: float = 30.0,
    concurrency: int = 4,
) -> httpx.Client:
    """An httpx client with TLS verification always on and a bounded connection pool."""
    check_url(base_url, transport_injected=transport is not None)
    verify: ssl.SSLContext | bool = True
    if ca_bundle is not None:
        try:
            # Adds to the usual trust store (httpx's default, certifi) rather than replacing
            # it, so a proxy's CA can be trusted without losing the public roots.
            verify = ssl.create_default_context(cafile=certifi.where())
            verify.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                [Diagnostic(None, "ca_bundle", f"{ca_bundle}: cannot load CA bundle ({exc})")]
            ) from None
    return httpx.Client(
        base_url=base_url,
        transport=transport,
        verify=verify,
        timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        # Redirects are not followed: a redirect would resend the bearer token elsewhere.
        # trust_env stays on so HTTPS_PROXY and SSL_CERT_FILE work in corporate CI.
        follow_redirects=False,
    )
