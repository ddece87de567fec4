"""Environment settings in selvsync.yaml: connection, authentication, limits, sinks."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from selvsync.errors import Diagnostic, Position
from selvsync.model import EMULATOR, EnvironmentSettings, SafetyLimits
from selvsync.rules.uris import is_loopback
from selvsync.yaml import Document, PathKey, dotted

# Digdir's published hosts; an environment pointing at one of them needs no issuer settings.
KNOWN_APIS: dict[str, tuple[str, str]] = {
    "https://api.samarbeid.digdir.no": (
        "https://maskinporten.no/",
        "https://maskinporten.no/token",
    ),
    "https://api.test.samarbeid.digdir.no": (
        "https://test.maskinporten.no/",
        "https://test.maskinporten.no/token",
    ),
}


def parse_environment(
    name: str, raw: dict[str, Any], doc: Document, root: Path, errors: list[Diagnostic]
) -> EnvironmentSettings:
    """One environment's settings from its (schema-valid) mapping; problems go to ``errors``."""

    def fail(pos: Position | None, field: str, message: str, hint: str = "") -> None:
        errors.append(Diagnostic(pos, field, message, hint))

    api = str(raw["api"]).rstrip("/")
    here: PathKey = ("environments", name)
    issuer, token_endpoint = raw.get("issuer"), raw.get("token_endpoint")
    if api != EMULATOR:
        known = KNOWN_APIS.get(api)
        issuer = issuer or (known[0] if known else None)
        token_endpoint = token_endpoint or (known[1] if known else None)
        if not api.startswith(("https://", "http://")):
            fail(
                doc.locate((*here, "api")),
                dotted((*here, "api")),
                f"'{api}' is neither `emulator` nor a URL",
                "e.g. https://api.test.samarbeid.digdir.no",
            )
        elif api.startswith("http://") and not is_loopback(urlsplit(api).hostname or ""):
            fail(
                doc.locate((*here, "api")),
                dotted((*here, "api")),
                "plain http:// is only allowed to this machine (localhost, 127.0.0.0/8, ::1)",
                "use https://",
            )
        auth = raw.get("auth")
        if auth is None:
            fail(
                doc.locate_key(here),
                dotted((*here, "auth")),
                "an environment on a real API needs `auth:`",
                "see docs/authentication.md",
            )
        elif auth.get("method") != "token" and not (issuer and token_endpoint):
            fail(
                doc.locate_key(here),
                dotted(here),
                "`issuer` and `token_endpoint` are needed for this API",
                "set the Maskinporten issuer and token endpoint for this environment",
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
    return EnvironmentSettings(
        name=name,
        api=api,
        prefix=str(raw.get("prefix", "/api/v1")),
        production=bool(raw.get("production", name == "prod")),
        issuer=issuer,
        token_endpoint=token_endpoint,
        auth=raw.get("auth"),
        variables=dict(raw.get("variables") or {}),
        safety=SafetyLimits(**safety),
        secrets=secrets,
        merchant_api=bool(raw.get("merchant_api", api == EMULATOR)),
        concurrency=int(raw.get("concurrency", 4)),
        key_expiry_warning_days=int(raw.get("key_expiry_warning_days", 30)),
        key_propagation_minutes=int(raw.get("key_propagation_minutes", 10)),
        secret_max_age_days=int(raw.get("secret_max_age_days", 330)),
        emulator_db=(root / (db or f".selvsync/emulator-{name}.sqlite"))
        if api == EMULATOR
        else None,
    )


def _check_auth(
    auth: dict[str, Any], here: PathKey, doc: Document, errors: list[Diagnostic]
) -> None:
    def fail(pos: Position | None, field: str, message: str, hint: str = "") -> None:
        errors.append(Diagnostic(pos, field, message, hint))

    needs = {
        "certificate": ("client_id",),
        "key": ("client_id", "kid", "private_key"),
        "token": ("token_env",),
    }.get(str(auth.get("method")), ())
    for key in needs:
        if key not in auth:
            fail(
                doc.locate_key(here),
                dotted((*here, key)),
                f"auth method '{auth.get('method')}' needs `{key}`",
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
