"""selvsync.yaml, shared.yaml and environment files -> desired state, collecting every error.

Layout (see docs/configuration.md):

    selvsync.yaml              organisation, owner, environments and their settings
    shared.yaml                optional: client definitions reused with `extends: NAME`
    environments/<env>.yaml    or environments/<env>/*.yaml: `clients:` and `merchant:`
    keys/                      public keys referenced by clients

A client in an environment file may say `extends: NAME`; it then starts from the shared
definition and overrides it field by field (mappings merge, lists and scalars replace). After
merging, `${var}` is substituted from the environment's `variables` plus the built-ins `env`,
`orgno` and `owner`; `$${` writes a literal `${`.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selvsync import keys as keyfiles
from selvsync import rules, schema
from selvsync.errors import ConfigError, Diagnostic, Position
from selvsync.model import (
    EMULATOR,
    SELVSYNC_CLIENT_SETTINGS,
    DesiredClient,
    DesiredState,
    EnvironmentSettings,
    Merchant,
    Project,
    SafetyLimits,
)
from selvsync.yaml import Document, PathKey, dotted, load_file

PROJECT_FILE = "selvsync.yaml"
SHARED_FILE = "shared.yaml"
ENVIRONMENTS_DIR = "environments"

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

_VAR = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def load_project(root: Path, only: Iterable[str] | None = None) -> Project:
    """Load and validate everything; raise ConfigError listing every problem found."""
    loader = _ProjectLoader(root)
    return loader.load(list(only) if only is not None else None)


def display_path(path: Path) -> str:
    """Paths in messages are relative to the working directory when that is shorter."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)


@dataclass
class _Source:
    doc: Document
    prefix: PathKey

    def origins(self) -> dict[PathKey, Position]:
        n = len(self.prefix)
        out = {p[n:]: pos for p, pos in self.doc.positions.items() if p[:n] == self.prefix}
        # Problems with the whole client (a missing field) point at its key's line.
        key_pos = self.doc.key_positions.get(self.prefix)
        if key_pos is not None:
            out[()] = key_pos
        return out


class _ProjectLoader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.errors: list[Diagnostic] = []
        # Where the schema already complained: the rules would only say it again.
        self.schema_spots: set[tuple[Position | None, str]] = set()

    # -- helpers -------------------------------------------------------------------------

    def _load(self, path: Path, kind: str) -> Document | None:
        try:
            doc = load_file(path, display_path(path))
        except ConfigError as exc:
            self.errors.extend(exc.diagnostics)
            return None
        found = schema.validate(doc, kind)
        self.errors.extend(found)
        self.schema_spots.update((d.position, d.field) for d in found)
        if doc.data is None:
            doc.data = {}
        if not isinstance(doc.data, dict):
            return None
        return doc

    def _fail(self, pos: Position | None, field: str, message: str, hint: str = "") -> None:
        self.errors.append(Diagnostic(pos, field, message, hint))

    # -- the pipeline ---------------------------------------------------------------------

    def load(self, only: list[str] | None) -> Project:
        project_path = self.root / PROJECT_FILE
        if not project_path.is_file():
            raise ConfigError(
                [
                    Diagnostic(
                        Position(display_path(project_path), 1, 1),
                        "",
                        "no selvsync.yaml here",
                        "run selvsync in the project directory or pass -C DIR",
                    )
                ]
            )
        doc = self._load(project_path, "project")
        if doc is None or self.errors:
            raise ConfigError(self.errors)
        data = doc.data
        orgno = str(data["orgno"])
        self.errors.extend(rules.check_orgno(orgno, doc.locate(("orgno",)), "orgno"))
        owner = str(data.get("owner") or orgno)
        environments = {
            name: self._environment(name, raw, doc) for name, raw in data["environments"].items()
        }
        if only:
            for name in only:
                if name not in environments:
                    guess = difflib.get_close_matches(name, list(environments), n=1)
                    self._fail(
                        doc.locate(("environments",)),
                        "environments",
                        f"no environment named '{name}'",
                        f"did you mean '{guess[0]}'?"
                        if guess
                        else "declared: " + ", ".join(environments),
                    )
        project = Project(self.root, orgno, owner, environments)
        shared = self._shared()
        files = self._environment_files(doc, environments)
        for name in environments:
            if only and name not in only:
                continue
            project.states[name] = self._state(project, name, files.get(name, []), shared, doc)
        if self.errors:
            raise ConfigError(self.errors)
        return project

    def _environment(self, name: str, raw: dict[str, Any], doc: Document) -> EnvironmentSettings:
        api = str(raw["api"]).rstrip("/")
        here: PathKey = ("environments", name)
        issuer, token_endpoint = raw.get("issuer"), raw.get("token_endpoint")
        if api != EMULATOR:
            known = KNOWN_APIS.get(api)
            issuer = issuer or (known[0] if known else None)
            token_endpoint = token_endpoint or (known[1] if known else None)
            if not api.startswith(("https://", "http://")):
                self._fail(
                    doc.locate((*here, "api")),
                    dotted((*here, "api")),
                    f"'{api}' is neither `emulator` nor a URL",
                    "e.g. https://api.test.samarbeid.digdir.no",
                )
            auth = raw.get("auth")
            if auth is None:
                self._fail(
                    doc.locate_key(here),
                    dotted((*here, "auth")),
                    "an environment on a real API needs `auth:`",
                    "see docs/authentication.md",
                )
            elif auth.get("method") != "token" and not (issuer and token_endpoint):
                self._fail(
                    doc.locate_key(here),
                    dotted(here),
                    "`issuer` and `token_endpoint` are needed for this API",
                    "set the Maskinporten issuer and token endpoint for this environment",
                )
            if auth is not None:
                self._check_auth(auth, (*here, "auth"), doc)
        elif raw.get("auth") is not None:
            self._fail(
                doc.locate_key((*here, "auth")),
                dotted((*here, "auth")),
                "the embedded emulator needs no authentication",
                "remove `auth:`",
            )
        secrets = raw.get("secrets")
        if secrets is not None and len(secrets) != 1:
            self._fail(
                doc.locate_key((*here, "secrets")),
                dotted((*here, "secrets")),
                "give exactly one of `file` or `command`",
            )
        db = raw.get("emulator_db")
        safety = raw.get("safety") or {}
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
            emulator_db=(self.root / (db or f".selvsync/emulator-{name}.sqlite"))
            if api == EMULATOR
            else None,
        )

    def _check_auth(self, auth: dict[str, Any], here: PathKey, doc: Document) -> None:
        needs = {
            "certificate": ("client_id",),
            "key": ("client_id", "kid", "private_key"),
            "token": ("token_env",),
        }.get(str(auth.get("method")), ())
        for key in needs:
            if key not in auth:
                self._fail(
                    doc.locate_key(here),
                    dotted((*here, key)),
                    f"auth method '{auth.get('method')}' needs `{key}`",
                )
        if auth.get("method") == "certificate":
            has_p12 = "pkcs12" in auth
            has_pem = "private_key" in auth and "certificate" in auth
            if has_p12 == has_pem:
                self._fail(
                    doc.locate_key(here),
                    dotted(here),
                    "give either `pkcs12` (+ `password_env`) or `private_key` + `certificate`",
                )
            if has_p12 and "password_env" not in auth:
                self._fail(
                    doc.locate_key(here),
                    dotted((*here, "password_env")),
                    "a PKCS#12 file needs `password_env`",
                    "name the environment variable that holds the password",
                )

    def _shared(self) -> dict[str, _Source]:
        path = self.root / SHARED_FILE
        if not path.is_file():
            return {}
        doc = self._load(path, "shared")
        if doc is None:
            return {}
        out: dict[str, _Source] = {}
        for name, body in (doc.data.get("clients") or {}).items():
            if isinstance(body, dict) and "extends" in body:
                self._fail(
                    doc.locate_key(("clients", name, "extends")),
                    dotted(("clients", name, "extends")),
                    "shared definitions cannot extend each other",
                    "copy the fields into this definition",
                )
            out[name] = _Source(doc, ("clients", name))
        return out

    def _environment_files(
        self, project_doc: Document, environments: dict[str, EnvironmentSettings]
    ) -> dict[str, list[Path]]:
        base = self.root / ENVIRONMENTS_DIR
        found: dict[str, list[Path]] = {}
        if base.is_dir():
            for entry in sorted(base.iterdir()):
                if entry.is_dir():
                    files = sorted(p for p in entry.iterdir() if p.suffix in (".yaml", ".yml"))
                    name = entry.name
                elif entry.suffix in (".yaml", ".yml"):
                    files, name = [entry], entry.stem
                else:
                    continue
                if name not in environments:
                    guess = difflib.get_close_matches(name, list(environments), n=1)
                    self._fail(
                        Position(display_path(entry), 1, 1),
                        "",
                        f"environment '{name}' is not declared in selvsync.yaml",
                        f"did you mean '{guess[0]}'?"
                        if guess
                        else f"add it under `environments:` or remove {entry.name}",
                    )
                    continue
                if name in found:
                    self._fail(
                        Position(display_path(entry), 1, 1),
                        "",
                        f"environment '{name}' has both a file and a folder",
                        "keep one of them",
                    )
                    continue
                found[name] = files
        for name in environments:
            if name not in found:
                self._fail(
                    project_doc.locate_key(("environments", name)),
                    dotted(("environments", name)),
                    f"no state file for environment '{name}'",
                    f"create {ENVIRONMENTS_DIR}/{name}.yaml (`clients: {{}}` declares none)",
                )
        return found

    def _state(
        self,
        project: Project,
        name: str,
        paths: list[Path],
        shared: dict[str, _Source],
        project_doc: Document,
    ) -> DesiredState:
        env = project.environments[name]
        state = DesiredState(env, files=[display_path(p) for p in paths])
        variables = {"env": name, "orgno": project.orgno, "owner": project.owner, **env.variables}
        var_origin = project_doc.locate(("environments", name, "variables"))
        merchant_source: _Source | None = None
        sources: dict[str, _Source] = {}
        for path in paths:
            doc = self._load(path, "environment")
            if doc is None:
                continue
            if "merchant" in doc.data:
                if merchant_source is not None:
                    first = merchant_source.doc.locate_key(("merchant",))
                    self._fail(
                        doc.locate_key(("merchant",)),
                        "merchant",
                        f"`merchant:` is already defined at {first}",
                        "keep one",
                    )
                else:
                    merchant_source = _Source(doc, ("merchant",))
            for key in doc.data.get("clients") or {}:
                if key in sources:
                    first = sources[key].doc.locate_key(sources[key].prefix)
                    self._fail(
                        doc.locate_key(("clients", key)),
                        dotted(("clients", key)),
                        f"client key defined twice (first at {first})",
                        "keep one definition per key in each environment",
                    )
                    continue
                sources[key] = _Source(doc, ("clients", key))
        subst = _Substituter(variables, var_origin, self.errors)
        if merchant_source is not None:
            raw_merchant = subst.apply(
                _lookup(merchant_source), merchant_source.origins(), "merchant"
            )
            state.merchant = _merchant(raw_merchant)
            m_origins = merchant_source.origins()
            # production=False: the requirement is checked per client, after overrides.
            self.errors.extend(
                rules.check_merchant(
                    raw_merchant,
                    production=False,
                    locate=_locator(m_origins),
                    field_prefix="merchant",
                )
            )
        for key, source in sources.items():
            client = self._client(key, source, shared, subst, env, state.merchant)
            if client is not None:
                state.clients[key] = client
        if env.production:
            for client in state.clients.values():
                if not (client.merchant and client.merchant.notification_emails):
                    self._fail(
                        client.locate(),
                        dotted(("clients", client.key)),
                        "a client in a production environment needs notification e-mails",
                        "add `merchant: {notification_emails: [...]}` to the environment "
                        "file or to the client",
                    )
        self._check_global_kids(state)
        return state

    def _client(
        self,
        key: str,
        source: _Source,
        shared: dict[str, _Source],
        subst: _Substituter,
        env: EnvironmentSettings,
        env_merchant: Merchant,
    ) -> DesiredClient | None:
        body = _lookup(source)
        origins = source.origins()
        field = dotted(("clients", key))
        if not isinstance(body, dict):
            self._fail(source.doc.locate(source.prefix), field, "expected a mapping of fields")
            return None
        base_name = body.get("extends")
        if base_name is not None:
            base = shared.get(str(base_name))
            if base is None:
                guess = difflib.get_close_matches(str(base_name), list(shared), n=1)
                self._fail(
                    source.doc.locate(("clients", key, "extends")),
                    f"{field}.extends",
                    f"no shared definition named '{base_name}'",
                    f"did you mean '{guess[0]}'?"
                    if guess
                    else f"define it under `clients:` in {SHARED_FILE}",
                )
                return None
            body, origins = _merge(_lookup(base), base.origins(), body, origins)
            body.pop("extends", None)
        before = len(self.errors)
        body = subst.apply(body, origins, field)
        locate = _locator(origins)
        if len(self.errors) == before:
            # Skip the rules when a variable is undefined: they would only repeat that error.
            self.errors.extend(
                d
                for d in rules.check_client(
                    key, body, production=env.production, locate=locate, field_prefix=field
                )
                if (d.position, d.field) not in self.schema_spots
            )
        fields = {k: v for k, v in body.items() if k not in SELVSYNC_CLIENT_SETTINGS}
        client = DesiredClient(
            key=key,
            fields=fields,
            protect=bool(body.get("protect", False)),
            allow_replace=bool(body.get("allow_replace", False)),
            client_id=body.get("client_id"),
            secret_max_age_days=body.get("secret_max_age_days"),
            extends=str(base_name) if base_name is not None else None,
            origins=origins,
        )
        override = body.get("merchant")
        merged_merchant = dict(env_merchant.as_dict())
        if isinstance(override, dict):
            self.errors.extend(
                rules.check_merchant(
                    override,
                    production=False,
                    locate=lambda p: locate(("merchant", *p)),
                    field_prefix=f"{field}.merchant",
                )
            )
            merged_merchant.update({k: v for k, v in override.items() if v is not None})
        client.merchant = _merchant(merged_merchant)
        self._client_keys(client, body.get("keys"), locate, field)
        return client

    def _client_keys(
        self,
        client: DesiredClient,
        declared: Any,
        locate: Callable[[PathKey], Position | None],
        field: str,
    ) -> None:
        if declared is None:
            return
        entries = [declared] if isinstance(declared, str) else list(declared)
        for i, entry in enumerate(entries):
            path_key: PathKey = ("keys",) if isinstance(declared, str) else ("keys", i)
            path = (self.root / entry).resolve()
            if not path.is_relative_to(self.root.resolve()):
                self._fail(
                    locate(path_key),
                    dotted(("clients", client.key, *path_key)),
                    f"key file '{entry}' is outside the project",
                    "keep public keys under keys/ in the project",
                )
                continue
            if not path.is_file():
                self._fail(
                    locate(path_key),
                    dotted(("clients", client.key, *path_key)),
                    f"key file '{entry}' does not exist",
                    "create it with `selvsync keygen` or fix the path",
                )
                continue
            jwks, problems = keyfiles.load_public_keys(path, display=display_path(path))
            self.errors.extend(problems)
            client.keys.extend(jwks)
            client.key_files.append(entry)
        self.errors.extend(
            keyfiles.check_client_keys(
                client.keys, locate=lambda p: locate(("keys",)), field=f"{field}.keys"
            )
        )

    def _check_global_kids(self, state: DesiredState) -> None:
        entries = [
            (c.key, jwk, c.locate(("keys",))) for c in state.clients.values() for jwk in c.keys
        ]
        self.errors.extend(keyfiles.check_kids_globally_unique(entries))


class _Substituter:
    """Replaces ${name} in every string, reporting undefined names at the string's position."""

    def __init__(
        self, variables: dict[str, str], origin: Position | None, errors: list[Diagnostic]
    ) -> None:
        self.variables = variables
        self.origin = origin
        self.errors = errors

    def apply(
        self, value: Any, origins: dict[PathKey, Position], field: str, path: PathKey = ()
    ) -> Any:
        if isinstance(value, str):
            return self._string(value, origins.get(path), field + dotted_suffix(path))
        if isinstance(value, dict):
            return {k: self.apply(v, origins, field, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v, origins, field, (*path, i)) for i, v in enumerate(value)]
        return value

    def _string(self, text: str, pos: Position | None, field: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name = match.group(1)
            if not _VAR_NAME.match(name):
                self.errors.append(
                    Diagnostic(
                        pos,
                        field,
                        f"invalid variable reference '${{{name}}}'",
                        "names are letters, digits and '_'; write $${ for a literal ${",
                    )
                )
                return match.group(0)
            if name not in self.variables:
                guess = difflib.get_close_matches(name, list(self.variables), n=1)
                self.errors.append(
                    Diagnostic(
                        pos,
                        field,
                        f"undefined variable '${{{name}}}'",
                        f"did you mean '{guess[0]}'?"
                        if guess
                        else "define it under the environment's `variables:` in selvsync.yaml",
                    )
                )
                return match.group(0)
            return self.variables[name]

        return _VAR.sub(replace, text)


def dotted_suffix(path: PathKey) -> str:
    if not path:
        return ""
    text = dotted(path)
    return text if text.startswith("[") else "." + text


def _lookup(source: _Source) -> Any:
    value: Any = source.doc.data
    for part in source.prefix:
        value = value[part]
    return value


def _locator(origins: dict[PathKey, Position]) -> Callable[[PathKey], Position | None]:
    def locate(path: PathKey) -> Position | None:
        for i in range(len(path), -1, -1):
            pos = origins.get(path[:i])
            if pos is not None:
                return pos
        return None

    return locate


def _merge(
    base: Any,
    base_origins: dict[PathKey, Position],
    over: Any,
    over_origins: dict[PathKey, Position],
) -> tuple[Any, dict[PathKey, Position]]:
    """Deep-merge mappings (lists and scalars replace) and keep each value's own origin."""

    def merge(a: Any, b: Any) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            out = dict(a)
            for k, v in b.items():
                out[k] = merge(a[k], v) if k in a else v
            return out
        return b

    merged = merge(base, over)
    origins: dict[PathKey, Position] = {}

    def walk(value: Any, path: PathKey) -> None:
        pos = over_origins.get(path) or base_origins.get(path)
        if pos is not None:
            origins[path] = pos
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))

    walk(merged, ())
    return merged, origins


def _merchant(raw: Any) -> Merchant:
    if not isinstance(raw, dict):
        return Merchant()
    emails = raw.get("notification_emails") or []
    invoice = raw.get("invoice")
    return Merchant(
        notification_emails=tuple(str(e) for e in emails),
        invoice={k: str(v) for k, v in invoice.items() if v is not None}
        if isinstance(invoice, dict)
        else None,
    )
