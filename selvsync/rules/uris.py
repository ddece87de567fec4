"""Syntax rules for the URIs and addresses in a client or merchant declaration.

Split from :mod:`selvsync.rules` so that each module holds one job: this one knows what a
acceptable redirect URI, logout URI, web address or e-mail address looks like; ``rules``
knows which fields a client of each kind must, may and must not have. Pure functions, no I/O.

Problems are handed to a ``report(path, message, hint)`` callback instead of being returned,
so that one URI can yield several problems and the caller decides how to place them.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import SplitResult, urlsplit

Path = tuple[str | int, ...]
Report = Callable[[Path, str, str], None]

# Two notions of "this machine", side by side so they never drift apart:
# * LOOPBACK_HOSTS: what Digdir accepts as a localhost redirect URI (the exact names);
# * is_loopback(): where selvsync may speak plain http:// (any of 127.0.0.0/8 and ::1).
# urlsplit() strips the brackets of "[::1]".
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

# Schemes that are never a redirect target, even for a native app: they run code or read
# local files instead of handing the authorization response to an app.
_DANGEROUS_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob"})

_WHITESPACE = re.compile(r"[\s\x00-\x1f\x7f]")

# Deliberately strict (ASCII only, dotted domain, TLD of letters or punycode): these addresses
# receive incident mail from Digdir, so a typo must fail here rather than silently at Digdir.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})",
    re.ASCII,
)
_EMAIL_MAX = 254  # RFC 5321 path limit


def valid_email(address: str) -> bool:
    """True for a plain ``local@domain.tld`` address (no display name, no IP literal)."""
    return len(address) <= _EMAIL_MAX and _EMAIL.fullmatch(address) is not None


def registrable_domain(host: str) -> str:
    """The last two DNS labels of ``host`` (``login.nav.no`` -> ``nav.no``).

    An approximation of the registrable domain: the public suffix list is not consulted, so
    hosts under a multi-label suffix such as ``kommune.no`` or ``co.uk`` compare equal when
    they belong to different owners. That errs on the permissive side, which is the right side
    for an offline check (Digdir decides in the end). IP addresses and single-label hosts such
    as ``localhost`` are returned whole.
    """
    host = host.lower().rstrip(".")
    if ":" in host or re.fullmatch(r"[0-9.]+", host):
        return host
    return ".".join(host.split(".")[-2:])


def _check_ascii(uri: str, path: Path, report: Report) -> None:
    """Digdir and RFC 3986 take ASCII only: a look-alike or invisible character (a Cyrillic
    'а', a zero-width space) would make a URI that differs from the one people read."""
    for index, char in enumerate(uri):
        if char.isascii():
            continue
        name = unicodedata.name(char, "unnamed character")
        where = f"U+{ord(char):04X} {name} at position {index + 1}"
        if unicodedata.category(char) in ("Cf", "Cc", "Zs", "Zl", "Zp", "Co", "Cn"):
            report(path, f"contains an invisible character ({where})", "delete it")
        else:
            try:
                host = urlsplit(uri).hostname or ""
            except ValueError:
                host = ""
            hint = (
                f"write the host as punycode: {_punycode(host)}"
                if host and not host.isascii()
                else "percent-encode it (UTF-8), e.g. ø as %C3%B8"
            )
            report(path, f"contains a non-ASCII character ({where})", hint)
        return  # one message per URI is enough to find it


def _punycode(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return "xn--..."


def _parse(uri: object, path: Path, report: Report, *, native_loopback: bool) -> SplitResult | None:
    """Checks common to every URI. Returns the parts, or None when nothing more can be said."""
    if not isinstance(uri, str):
        return None  # wrong type: the schema has already reported it
    if not uri.strip():
        report(path, "is empty", "write a full URI, e.g. https://tjeneste.example.no/callback")
        return None
    if _WHITESPACE.search(uri):
        report(path, "contains whitespace", "remove it, or percent-encode a space as %20")
    _check_ascii(uri, path, report)
    if "*" in uri:
        hint = (
            "use port 0 (e.g. http://127.0.0.1:0/callback) to accept any loopback port "
            "(RFC 8252 §7.3)"
            if native_loopback
            else "list every URI in full"
        )
        report(path, "contains a wildcard; Digdir compares these URIs exactly", hint)
    if "#" in uri:
        report(path, "must not contain a fragment ('#…')", "remove the '#' and what follows it")
    try:
        parts = urlsplit(uri.strip())
        if "*" not in parts.netloc:  # a wildcard port was reported above
            parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        report(path, "is not a valid URI", "check brackets and the port number")
        return None
    if not parts.scheme:
        report(
            path,
            "is not an absolute URI (it has no scheme)",
            "write the full URI, e.g. https://tjeneste.example.no/callback",
        )
        return None
    return parts


def _is_loopback(parts: SplitResult) -> bool:
    return (parts.hostname or "") in LOOPBACK_HOSTS


def _check_web_parts(
    parts: SplitResult, path: Path, report: Report, *, production: bool, loopback_ok: bool
) -> None:
    """http(s) rules: a host, https, and the localhost exceptions."""
    if not parts.hostname:
        report(path, "has no host", "write the full URI, e.g. https://tjeneste.example.no/callback")
        return
    if not _is_loopback(parts):
        if parts.scheme != "https":
            report(
                path, "must use https://", "use https://; plain http is only for localhost in test"
            )
        return
    if production and not loopback_ok:
        report(
            path,
            "localhost URIs are allowed in production only for native apps",
            "use the service's public https:// address; test against localhost in a test "
            "environment",
        )
    elif not production and parts.scheme == "https":
        report(path, "localhost URIs must use http:// in test", "write http://localhost…")


def check_redirect_uri(
    uri: object, path: Path, *, application_type: str, production: bool, report: Report
) -> None:
    """A redirect_uris or post_logout_redirect_uris entry.

    https everywhere; http only for loopback hosts; in production loopback only for native
    apps; in test loopback must be http://. Native apps may also use a private-use scheme
    (``no.digdir.app:/callback``, RFC 8252 §7.1).
    """
    native = application_type == "native"
    parts = _parse(uri, path, report, native_loopback=native)
    if parts is None:
        return
    if parts.scheme in ("http", "https"):
        _check_web_parts(parts, path, report, production=production, loopback_ok=native)
    elif parts.scheme == "localhost":
        # urlsplit("localhost:8080/cb") reads "localhost" as the scheme.
        report(path, "has no scheme before localhost", "write http://localhost:…")
    elif parts.scheme in _DANGEROUS_SCHEMES:
        report(path, f"scheme '{parts.scheme}:' can never be a redirect target", "use https://")
    elif not native:
        report(
            path,
            f"custom URI scheme '{parts.scheme}:' is allowed only for native apps",
            "use https://, or set application_type: native for a mobile or desktop app",
        )


def check_https_uri(uri: object, path: Path, *, report: Report) -> None:
    """client_uri and logo_uri: shown to people at login, so https with a real host.

    A relative reference (``bilde.gif``, ``/img/logo.png``: no scheme, no host) passes, as it
    does at Digdir, so that a live client holding one can be imported and adopted unchanged.
    """
    if _relative_reference(uri):
        return
    parts = _parse(uri, path, report, native_loopback=False)
    if parts is None:
        return
    if parts.scheme != "https":
        report(path, "must use https://", "use an https:// address")
    elif not parts.hostname:
        report(path, "has no host", "write the full URI, e.g. https://tjeneste.example.no/")


def _relative_reference(uri: object) -> bool:
    """A relative reference without scheme or host, and nothing else to object to."""
    if not isinstance(uri, str) or not uri.strip() or _WHITESPACE.search(uri):
        return False
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc and not uri.startswith("//")


def check_frontchannel_logout_uri(
    uri: object, path: Path, *, redirect_uris: Sequence[object], production: bool, report: Report
) -> None:
    """https (http only for localhost in test), and on the domain of some redirect URI.

    The domain rule compares :func:`registrable_domain` of the hosts; redirect URIs without a
    host (custom schemes) can never match. When there are no redirect URIs at all the domain
    rule is skipped: the missing redirect URIs are reported on their own.
    """
    parts = _parse(uri, path, report, native_loopback=False)
    if parts is None:
        return
    if parts.scheme not in ("http", "https"):
        report(path, "must use https://", "use the https:// address of your logout endpoint")
        return
    _check_web_parts(parts, path, report, production=production, loopback_ok=False)
    if not parts.hostname or not redirect_uris:
        return
    domain = registrable_domain(parts.hostname)
    if domain not in _redirect_domains(redirect_uris):
        report(
            path,
            f"is not on the same domain as any redirect URI ({domain})",
            "serve front-channel logout from the domain of one of the redirect_uris",
        )


def check_backchannel_logout_uri(
    uri: object, path: Path, *, redirect_uris: Sequence[object], production: bool, report: Report
) -> None:
    """https (http only for localhost in test), and on the exact host of some redirect URI.

    Stricter than front-channel logout's "same domain": ID-porten posts the logout token
    server to server, to a host the client already proved it owns. Without redirect URIs the
    host rule is skipped: the missing redirect URIs are reported on their own.
    """
    parts = _parse(uri, path, report, native_loopback=False)
    if parts is None:
        return
    if parts.scheme not in ("http", "https"):
        report(path, "must use https://", "use the https:// address of your logout endpoint")
        return
    _check_web_parts(parts, path, report, production=production, loopback_ok=False)
    if not parts.hostname or not redirect_uris:
        return
    host = parts.hostname.lower()
    if host not in _redirect_hosts(redirect_uris):
        report(
            path,
            f"host {host} is not the host of any redirect URI",
            "serve back-channel logout from the host of one of the redirect_uris",
        )


def _redirect_hosts(uris: Sequence[object]) -> set[str]:
    return {host.lower() for host in _hosts(uris)}


def _redirect_domains(uris: Sequence[object]) -> set[str]:
    return {registrable_domain(host) for host in _hosts(uris)}


def _hosts(uris: Sequence[object]) -> Iterator[str]:
    """The host of each URI that has one (anything malformed is reported elsewhere)."""
    for uri in uris:
        if not isinstance(uri, str):
            continue
        try:
            host = urlsplit(uri.strip()).hostname
        except ValueError:
            continue
        if host:
            yield host
