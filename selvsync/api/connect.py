"""Turn an environment's settings into a DigdirClient: the real API or the embedded emulator.

The embedded emulator (``api: emulator``) runs in-process through an httpx transport and keeps
its state in a SQLite file under ``.selvsync/``; it needs no server and no credentials, which
is what makes the quickstart run anywhere.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from selvsync.api.auth import (
    PROVIDERS,
    StaticTokenProvider,
    build_token_provider,
    ca_bundle_from,
    scopes_for,
)
from selvsync.api.auth.discovery import TokenEndpoints, Untrusted, discover_token_endpoint
from selvsync.api.client import EMULATOR_MERCHANT_LIST_PATH, EMULATOR_MERCHANT_PATH, DigdirClient
from selvsync.errors import ConfigError, Diagnostic, Position
from selvsync.model import EnvironmentSettings, Project, auth_for
from selvsync.sensitive.value import Secret

EMULATOR_BASE_URL = "http://emulator.selvsync.invalid"

ClientFactory = Callable[[EnvironmentSettings, str], DigdirClient]


def _refuse_all(url: str) -> str:
    return "no trust rule was given to check a discovered endpoint against"


def default_factory(
    project: Project,
    environ: Mapping[str, str] | None = None,
    *,
    untrusted: Untrusted = _refuse_all,
) -> ClientFactory:
    """A factory opening one client per (environment, command).

    An environment with ``issuer`` but no ``token_endpoint`` gets its token endpoint from
    the issuer's RFC 8414 metadata, fetched once per factory (one run) and checked with
    ``untrusted`` (``selvsync.config.trust.untrusted_reason``, which the CLI passes) before
    any grant is signed.
    """
    env_vars = dict(os.environ if environ is None else environ)
    endpoints = TokenEndpoints(discover_token_endpoint)

    def open_client(env: EnvironmentSettings, command: str) -> DigdirClient:
        if env.is_emulator:
            return _embedded(project, env)
        assert env.auth is not None  # config guarantees auth for real APIs
        auth = auth_for(env.auth, command)
        token_endpoint = env.token_endpoint or ""
        method = PROVIDERS.get(str(auth.get("method")))
        if not token_endpoint and env.issuer and method is not None and method.grant:
            token_endpoint = endpoints(
                env.issuer,
                untrusted=untrusted,
                ca_bundle=ca_bundle_from(env_vars),
            )
        provider = build_token_provider(
            auth,
            project_dir=project.root,
            issuer=env.issuer or "",
            token_endpoint=token_endpoint,
            environ=env_vars,
        )
        return DigdirClient(
            env.api,
            prefix=env.prefix,
            token_provider=provider,
            scopes=scopes_for(auth, command, supplier=env.name in project.supplier_environments),
            concurrency=env.concurrency,
            ca_bundle=ca_bundle_from(env_vars),
            merchant_path=EMULATOR_MERCHANT_PATH if env.merchant_api else None,
            merchant_list_path=EMULATOR_MERCHANT_LIST_PATH if env.merchant_api else None,
        )

    return open_client


def _embedded(project: Project, env: EnvironmentSettings) -> DigdirClient:
    # Imported here: only emulator environments pay for it, and the client module never
    # depends on the emulator.
    from selvsync.emulator import FULL_SCOPES, Emulator
    from selvsync.emulator.store import DatabaseFileError

    db = env.emulator_db or project.root / ".selvsync" / f"emulator-{env.name}.sqlite"
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    try:
        emulator = Emulator(db, prefix=env.prefix)
    except DatabaseFileError as exc:
        raise ConfigError(
            [Diagnostic(Position(str(db), 1, 1), f"environments.{env.name}.emulator_db", str(exc))]
        ) from None
    token = secrets.token_urlsafe(24)
    emulator.add_token(token, project.orgno, FULL_SCOPES)
    # Digdir gives an API provider its prefixes by hand; the embedded emulator gives the
    # organisation the ones its environment says it owns (docs/scopes.md).
    for entry in env.scopes.owned:
        # Another organisation's prefix stays theirs: plan then says the scopes cannot be made.
        with contextlib.suppress(ValueError):
            emulator.add_prefix(project.orgno, entry.partition(":")[0])
    return DigdirClient(
        EMULATOR_BASE_URL,
        prefix=env.prefix,
        token_provider=StaticTokenProvider(Secret(token)),
        scopes=sorted(FULL_SCOPES),
        transport=emulator.transport(),
        concurrency=env.concurrency,
        merchant_path=EMULATOR_MERCHANT_PATH if env.merchant_api else None,
        merchant_list_path=EMULATOR_MERCHANT_LIST_PATH if env.merchant_api else None,
    )
