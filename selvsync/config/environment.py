"""Environment settings in selvsync.yaml: connection, authentication, limits, sinks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from selvsync.config.scopes import scope_settings
from selvsync.config.trust import DIGDIR, digdir_for_api, trust_hint, untrusted_reason
from selvsync.errors import Diagnostic, Position
from selvsync.model import (
    AUTH_METHODS,
    EMULATOR,
    READ_SCOPES,
    WRITE_SCOPES_ALLOWED,
    EnvironmentSettings,
    SafetyLimits,
)
from selvsync.yaml import Document, PathKey, dotted


def parse_environment(
    name: str, raw: dict[str, Any], doc: Document, root: Path, errors: list[Diagnostic]
) -> EnvironmentSettings:
    """One environment's settings from its (schema-valid) mapping; problems go to ``errors``."""

    def fail(pos: Position | None, field: str, message: str, hint: str = "") -> None:
        errors.append(Diagnostic(pos, field, message, hint))

    here: PathKey = ("environments", name)
    api = _api_of(raw, here, doc, fail)
    issuer, token_endpoint = raw.get("issuer"), raw.get("token_endpoint")
    if api != EMULATOR:
        issuer, token_endpoint = _maskinporten(api, raw, here, doc, fail)
        auth = raw.get("auth")
        if auth is None:
            fail(
                doc.locate_key(here),
                dotted((*here, "auth")),
                "an environment on a real API needs `auth:`",
                "see docs/authentication.md",
            )
        elif _is_grant(auth) and not issuer:
            fail(
                doc.locate_key(here),
                dotted(here),
                "`issuer` is needed for this API",
                "set the Maskinporten issuer for this environment; token_endpoint is found in "
                "its metadata when omitted",
            )
        if auth is not None:
            _check_auth(auth, (*here, "auth"), doc, errors)
    elif raw.get("auth") is not None:
        fail(
            doc.locate_key((*here, "auth")),
            dotted((*here, "auth")),
            "the embedded emulator needs no authentication",
            "remove `auth:`",
        )
    secrets = raw.get("secrets")
    if secrets is not None and len(secrets) != 1:
        fail(
            doc.locate_key((*here, "secrets")),
            dotted((*here, "secrets")),
            "give exactly one of `file` or `command`",
        )
    db = raw.get("emulator_db")
    safety = {"refuse_empty_listing": api != EMULATOR, **(raw.get("safety") or {})}
    # Settings written as they are; a missing one takes EnvironmentSettings' default, the one
    # place defaults are kept.
    as_written = {key: raw[key] for key in _AS_WRITTEN if key in raw}
    return EnvironmentSettings(
        name=name,
        api=api,
        production=bool(raw.get("production", name == "prod")),
        issuer=issuer,
        token_endpoint=token_endpoint,
        auth=raw.get("auth"),
        variables=dict(raw.get("variables") or {}),
        safety=SafetyLimits(**safety),
        secrets=secrets,
        merchant_api=bool(raw.get("merchant_api", api == EMULATOR)),
        shares_live_with=tuple(str(n) for n in raw.get("shares_live_with") or ()),
        emulator_db=(root / (db or f".selvsync/emulator-{name}.sqlite"))
        if api == EMULATOR
        else None,
        ignore=tuple(str(f) for f in raw.get("ignore") or ()),
        scopes=scope_settings(raw.get("scopes"), (*here, "scopes"), doc, errors),
        **as_written,
    )


_AS_WRITTEN = (
    "prefix",
    "concurrency",
    "key_expiry_warning_days",
    "key_propagation_minutes",
    "secret_max_age_days",
    "settle_seconds",
)


def _is_grant(auth: dict[str, Any]) -> bool:
    spec = AUTH_METHODS.get(str(auth.get("method")))
    return spec is None or spec.grant


def _check_auth(
    auth: dict[str, Any], here: PathKey, doc: Document, errors: list[Diagnostic]
) -> None:
    def fail(pos: Position | None, field: str, message: str, hint: str = "") -> None:
        errors.append(Diagnostic(pos, field, message, hint))

    spec = AUTH_METHODS.get(str(auth.get("method")))
    needs = spec.requires if spec is not None else ()
    for key in needs:
        if key not in auth:
            fail(
                doc.locate_key(here),
                dotted((*here, key)),
                f"auth method '{auth.get('method')}' needs `{key}`",
            )
    _check_scopes(auth.get("scopes"), here, doc, fail)
    if "ca_bundle" in auth:
        fail(
            doc.locate_key((*here, "ca_bundle")),
            dotted((*here, "ca_bundle")),
            "a CA bundle in YAML would let a pull request choose whom credentials are sent to",
            "set SELVSYNC_CA_BUNDLE=PATH in the environment of the process instead",
        )
    if auth.get("method") == "certificate":
        has_p12 = "pkcs12" in auth
        has_pem = "private_key" in auth and "certificate" in auth
        if has_p12 == has_pem:
            fail(
                doc.locate_key(here),
                dotted(here),
                "give either `pkcs12` (+ `password_env`) or `private_key` + `certificate`",
            )
        if has_p12 and "password_env" not in auth:
            fail(
                doc.locate_key(here),
                dotted((*here, "password_env")),
                "a PKCS#12 file needs `password_env`",
                "name the environment variable that holds the password",
            )


def _api_of(
    raw: dict[str, Any],
    here: PathKey,
    doc: Document,
    fail: Callable[[Position | None, str, str, str], None],
) -> str:
    """The API base: `api:` as written, or Digdir's for `digdir: test|prod` (exactly one)."""
    named = raw.get("digdir")
    if named is not None and "api" in raw:
        fail(
            doc.locate_key((*here, "digdir")),
            dotted((*here, "digdir")),
            "give `digdir:` or `api:`, not both",
            f"`digdir: {named}` already means api {DIGDIR[str(named)].api}",
        )
    if named is not None:
        return DIGDIR[str(named)].api
    if "api" not in raw:
        fail(
            doc.locate_key(here),
            dotted(here),
            "an environment needs `digdir:` (test or prod) or `api:`",
            "e.g. `digdir: test`, or `api: emulator` for the embedded emulator",
        )
        return EMULATOR
    api = str(raw["api"]).rstrip("/")
    if api != EMULATOR and not api.startswith(("https://", "http://")):
        fail(
            doc.locate((*here, "api")),
            dotted((*here, "api")),
            f"'{api}' is neither `emulator` nor a URL",
            "e.g. `digdir: test`, or https://api.test.samarbeid.digdir.no",
        )
    return api


def _maskinporten(
    api: str,
    raw: dict[str, Any],
    here: PathKey,
    doc: Document,
    fail: Callable[[Position | None, str, str, str], None],
) -> tuple[str | None, str | None]:
    """Issuer and token endpoint (Digdir's for Digdir's API); every URL that will receive a
    credential must be trusted (selvsync.config.trust)."""
    known = digdir_for_api(api)
    issuer = raw.get("issuer") or (known.issuer if known else None)
    token_endpoint = raw.get("token_endpoint") or (known.token_endpoint if known else None)
    # Without token_endpoint the issuer is fetched (RFC 8414 discovery), so it must be
    # trusted too; with one, the issuer is only the grant's aud and is never contacted.
    discovered = issuer if issuer and not token_endpoint else None
    for field, url in (("api", api), ("issuer", discovered), ("token_endpoint", token_endpoint)):
        if not url or not url.startswith(("https://", "http://")):
            continue  # not a URL at all: reported on its own
        reason = untrusted_reason(url)
        if reason is not None:
            at = field if field in raw else "digdir" if "digdir" in raw else "api"
            fail(
                doc.locate((*here, at)),
                dotted((*here, at)),
                f"{reason}; selvsync sends credentials only to trusted hosts",
                "use https://" if url.startswith("http://") else trust_hint(url),
            )
    return issuer, token_endpoint


def _check_scopes(
    scopes: Any,
    here: PathKey,
    doc: Document,
    fail: Callable[[Position | None, str, str, str], None],
) -> None:
    """`auth.scopes` may narrow what apply asks for; nothing in YAML can widen a token."""
    if not isinstance(scopes, dict):
        return
    allowed = {"plan": frozenset(READ_SCOPES), "apply": WRITE_SCOPES_ALLOWED}
    for command, names in scopes.items():
        for i, name in enumerate(names or ()):
            if name in allowed.get(command, frozenset()):
                continue
            where = (*here, "scopes", command, i)
            fail(
                doc.locate(where),
                dotted(where),
                f"'{name}' may not be requested for {command}",
                "read-only commands ask for exactly idporten:dcr.read"
                if command == "plan"
                else "apply asks for at most "
                + ", ".join(sorted(WRITE_SCOPES_ALLOWED))
                + "; see docs/security.md",
            )
