"""Where credentials may go: Digdir's hosts, this machine, and what the process environment adds.

selvsync signs Maskinporten grants with the organisation's enterprise certificate and sends
access tokens with every API call. Everything in ``selvsync.yaml`` can come from a pull
request, so YAML alone never decides where those go: a host is trusted only if it is one of
Digdir's published hosts (``DIGDIR``), loopback (the emulator, a test server), or named in
the process environment variable ``SELVSYNC_TRUSTED_HOSTS`` (comma-separated host names),
which the CI job's owner sets and a pull request cannot.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from selvsync.rules.uris import is_loopback

TRUSTED_HOSTS_VARIABLE = "SELVSYNC_TRUSTED_HOSTS"


@dataclass(frozen=True)
class DigdirEnvironment:
    """One of Digdir's environments: everything a connection needs, so nobody types it."""

    api: str
    issuer: str
    token_endpoint: str


# Digdir's published hosts (docs/authentication.md has the table).
DIGDIR: dict[str, DigdirEnvironment] = {
    "prod": DigdirEnvironment(
        api="https://api.samarbeid.digdir.no",
        issuer="https://maskinporten.no/",
        token_endpoint="https://maskinporten.no/token",
    ),
    "test": DigdirEnvironment(
        api="https://api.test.samarbeid.digdir.no",
        issuer="https://test.maskinporten.no/",
        token_endpoint="https://test.maskinporten.no/token",
    ),
}

DIGDIR_HOSTS: frozenset[str] = frozenset(
    str(urlsplit(url).hostname) for env in DIGDIR.values() for url in (env.api, env.token_endpoint)
)


def digdir_for_api(api: str) -> DigdirEnvironment | None:
    """Digdir's environment whose API base is ``api`` (no trailing slash), if any."""
    return next((env for env in DIGDIR.values() if env.api == api.rstrip("/")), None)


def extra_hosts(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The host names ``SELVSYNC_TRUSTED_HOSTS`` adds (lower case, no trailing dot)."""
    raw = (os.environ if environ is None else environ).get(TRUSTED_HOSTS_VARIABLE, "")
    return frozenset(h.strip().lower().rstrip(".") for h in raw.split(",") if h.strip())


def untrusted_reason(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why credentials may not go to ``url``, or None when they may."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return f"'{url}' is not a URL"
    if parts.scheme not in ("https", "http") or not host:
        return f"'{url}' is not an http(s) URL with a host"
    if is_loopback(host):
        return None
    if parts.scheme != "https":
        return "plain http:// is only allowed to this machine (localhost, 127.0.0.0/8, ::1)"
    if parts.username is not None or parts.password is not None:
        return "a URL that carries a user name or password is never trusted"
    if host in DIGDIR_HOSTS or host in extra_hosts(environ):
        return None
    return f"{host} is not one of Digdir's hosts"


def trust_hint(url: str) -> str:
    host = urlsplit(url).hostname or url
    return (
        f"use `digdir: test` or `digdir: prod`, or trust the host outside the repository: "
        f"{TRUSTED_HOSTS_VARIABLE}={host} in the environment of the process"
    )
