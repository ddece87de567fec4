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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selvsync import rules
from selvsync.config import keyfiles, schema, sharing
from selvsync.config import scopes as scopeconf
from selvsync.config.environment import parse_environment
from selvsync.config.onbehalfof import parse_onbehalfof
from selvsync.config.resolve import Substituter, merge_with_origins
from selvsync.config.secretsinks import check_secret_sinks
from selvsync.errors import ConfigError, Diagnostic, Position
from selvsync.gcpause import paused_gc
from selvsync.model import (
    SELVSYNC_CLIENT_SETTINGS,
    DesiredClient,
    DesiredState,
    EnvironmentSettings,
    Merchant,
    Organisation,
    Project,
)
from selvsync.yaml import Document, PathKey, dotted, load_file
from selvsync.yaml.positions import FileOrigins, Origins, locator

PROJECT_FILE = "selvsync.yaml"
SHARED_FILE = "shared.yaml"
ENVIRONMENTS_DIR = "environments"


def load_project(
    root: Path,
    only: Iterable[str] | None = None,
    *,
    missing_states_ok: bool = False,
    on_settings: Callable[[Project, list[str]], None] | None = None,
) -> Project:
    """Load and validate everything; raise ConfigError listing every problem found.

    ``only`` limits the environments whose state is loaded. ``missing_states_ok`` treats a
    selected environment without a state file as declaring nothing (for `import`, which writes
    that file); everywhere else a missing file is an error, because "no file" must never mean
    "deactivate everything".

    ``on_settings(project, selected)`` is called once selvsync.yaml is read and valid, before
    the environment files are (``project.states`` is still empty then; it is filled in place).
    A plan starts its network reads there, so they overlap with loading a big project.
    """
    loader = _ProjectLoader(root, missing_states_ok=missing_states_ok)
    selected = list(only) if only is not None else None
    project, doc = loader.settings(selected)
    if on_settings is not None and not loader.errors:
        on_settings(project, [n for n in project.environments if not selected or n in selected])
    with paused_gc():
        loader.states(project, doc, selected)
    return project


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

    def origins(self) -> FileOrigins:
        # Problems with the whole client (a missing field) point at its key's line.
        return self.doc.origins(self.prefix)


class _ProjectLoader:
    def __init__(self, root: Path, *, missing_states_ok: bool = False) -> None:
        self.root = root
        self.missing_states_ok = missing_states_ok
        self.errors: list[Diagnostic] = []
        # Where the schema already complained: the rules would only say it again.
        self.schema_spots: set[tuple[Position | None, str]] = set()
        self.loaded: dict[Path, Document] = {}  # every file read, for the scope declarations
        # Hooks for selvsync.config.organisations: where one organisation's state files are,
        # and the shared definitions every client set gets unless it declares the key itself.
        self.states_dir: Path = root / ENVIRONMENTS_DIR
        self.templates: tuple[str, ...] = ()
        # Every organisation of selvsync.yaml (None in a single-organisation project), for
        # `onbehalfof: {from_organisations: true}` (selvsync.config.onbehalfof).
        self.organisations: tuple[Organisation, ...] | None = None
        self.orgno = ""  # the project's orgno, set by states()

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
        if found or not isinstance(doc.data, dict):
            # No code touches a value of a file the schema rejected: a wrong shape (a list
            # where a mapping belongs) is reported once, at its position, never a traceback.
            return None
        self.loaded[path] = doc
        return doc

    def _fail(self, pos: Position | None, field: str, message: str, hint: str = "") -> None:
        self.errors.append(Diagnostic(pos, field, message, hint))

    # -- the pipeline ---------------------------------------------------------------------

    def settings(self, only: list[str] | None) -> tuple[Project, Document]:
        """selvsync.yaml: the organisation and its environments. Raises ConfigError only when
        the file itself cannot be used; other problems wait for states() to report them all."""
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
        previous = tuple(str(o) for o in data.get("previous_owners") or () if str(o) != owner)
        environments = {
            name: parse_environment(name, raw, doc, self.root, self.errors)
            for name, raw in data["environments"].items()
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
        project = Project(self.root, orgno, owner, environments, previous_owners=previous)
        sharing.check_shared_live(project, doc.locate, self._fail)
        return project, doc

    def states(self, project: Project, doc: Document, only: list[str] | None) -> None:
        """shared.yaml and the environment files, into ``project.states``; then raise
        ConfigError with every problem found, selvsync.yaml's included."""
        environments = project.environments
        self.orgno = project.orgno
        shared = self._shared()
        selected = [n for n in environments if not only or n in only]
        # Environments sharing a selected one's live organisation are read too: their keys
        # tell which live clients are theirs (never this run's orphans).
        needed = [
            n for n in environments if n in selected or any(
                n in sharing.siblings(project, s) for s in selected
            )
        ]
        files = self._environment_files(doc, environments, needed)
        # Scopes (API providers): consumer groups and shared scope definitions, read once.
        shared_doc = self.loaded.get(self.root / SHARED_FILE)
        self.scope_groups = scopeconf.consumer_groups([doc, shared_doc], self.root, self.errors)
        self.shared_scopes = scopeconf.shared_scopes(shared_doc, self.errors)
        for name in needed:
            project.states[name] = self._state(project, name, files.get(name, []), shared, doc)
        declared = {name: set(state.clients) for name, state in project.states.items()}
        sharing.check_distinct_keys(project, declared, doc.locate, self._fail)
        for name in needed:
            if name not in selected:
                del project.states[name]
                continue
            self.errors.extend(check_secret_sinks(project.states[name]))
            others = sharing.siblings(project, name)
            project.states[name].shared_keys = frozenset(
                key for other in others for key in declared.get(other, ())
            )
        if self.errors:
            raise ConfigError(self.errors)

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
        self,
        project_doc: Document,
        environments: dict[str, EnvironmentSettings],
        selected: list[str],
    ) -> dict[str, list[Path]]:
        base = self.states_dir
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
        for name in selected:
            if name not in found and not self.missing_states_ok:
                self._fail(
                    project_doc.locate_key(("environments", name)),
                    dotted(("environments", name)),
                    f"no state file for environment '{name}'",
                    f"create {display_path(self.states_dir)}/{name}.yaml "
                    "(`clients: {}` declares none)",
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
        state = DesiredState(
            env, files=[display_path(p) for p in paths], previous_owners=project.previous_owners
        )
        variables = {"env": name, "orgno": project.orgno, "owner": project.owner, **env.variables}
        var_origin = project_doc.locate(("environments", name, "variables"))
        merchant_source, sources = self._sources(paths)
        for name_ in self.templates:
            if name_ not in sources and name_ in shared:
                sources[name_] = shared[name_]  # a template instantiated as it is written
        subst = Substituter(variables, var_origin, self.errors)
        if merchant_source is not None:
            state.merchant = self._environment_merchant(merchant_source, subst)
        for key, source in sources.items():
            client = self._client(key, source, shared, subst, env, state.merchant)
            if client is not None:
                state.clients[key] = client
        self._check_renames(state)
        if env.production:
            self._check_production_merchant(state)
        self._check_global_kids(state)
        scopeconf.load_environment_scopes(
            state,
            [self.loaded[p] for p in paths if p in self.loaded],
            self.shared_scopes,
            self.scope_groups,
            subst,
            self.errors,
        )
        return state

    def _sources(self, paths: list[Path]) -> tuple[_Source | None, dict[str, _Source]]:
        """Where the environment's `merchant:` and each client are written; twice is an error."""
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
        return merchant_source, sources

    def _check_renames(self, state: DesiredState) -> None:
        """`renamed_from` names a key no longer declared, at most one client claims it."""
        claimed: dict[str, str] = {}
        for client in sorted(state.clients.values(), key=lambda c: c.key):
            old = client.renamed_from
            if old is None:
                continue
            field = dotted(("clients", client.key, "renamed_from"))
            where = client.locate(("renamed_from",))
            if old == client.key:
                self._fail(where, field, "a client cannot be renamed from its own key",
                           "remove `renamed_from:`")
            elif old in state.clients:
                self._fail(
                    where,
                    field,
                    f"'{old}' is still declared in this environment",
                    f"remove '{old}' (the rename moves its live client to '{client.key}')",
                )
            elif old in claimed:
                self._fail(
                    where,
                    field,
                    f"'{claimed[old]}' is already renamed from '{old}'",
                    "one live client can move to one key only",
                )
            else:
                claimed[old] = client.key

    def _environment_merchant(self, source: _Source, subst: Substituter) -> Merchant:
        raw_merchant = subst.apply(_lookup(source), source.origins(), "merchant")
        # production=False: the requirement is checked per client, after overrides.
        self.errors.extend(
            rules.check_merchant(
                raw_merchant,
                production=False,
                locate=locator(source.origins()),
                field_prefix="merchant",
            )
        )
        return _merchant(raw_merchant)

    def _check_production_merchant(self, state: DesiredState) -> None:
        for client in state.clients.values():
            if not (client.merchant and client.merchant.notification_emails):
                self._fail(
                    client.locate(),
                    dotted(("clients", client.key)),
                    "a client in a production environment needs notification e-mails",
                    "add `merchant: {notification_emails: [...]}` to the environment "
                    "file or to the client",
                )

    def _client(
        self,
        key: str,
        source: _Source,
        shared: dict[str, _Source],
        subst: Substituter,
        env: EnvironmentSettings,
        env_merchant: Merchant,
    ) -> DesiredClient | None:
        body = _lookup(source)
        origins: Origins = source.origins()
        field = dotted(("clients", key))
        if not isinstance(body, dict):
            self._fail(source.doc.locate(source.prefix), field, "expected a mapping of fields")
            return None
        base_name = body.get("extends")
        if base_name is None and key in self.templates and source is not shared.get(key):
            base_name = key  # an organisation's override of a template merges over it
        if base_name is not None:
            extended = self._extend(key, source, str(base_name), shared, body, origins)
            if extended is None:
                return None
            body, origins = extended
        before = len(self.errors)
        body = subst.apply(body, origins, field)
        locate = locator(origins)
        ignore = _ignored(env.ignore, body.get("ignore"))
        if len(self.errors) == before:
            # Skip the rules when a variable is undefined: they would only repeat that error.
            # Ignored fields belong to the portal: what Digdir accepted there is not judged.
            self.errors.extend(
                d
                for d in rules.check_client(
                    key, body, production=env.production, locate=locate, field_prefix=field
                )
                if (d.position, d.field) not in self.schema_spots
                and not _about_ignored(d.field, field, ignore)
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
            ignore=ignore,
            renamed_from=body.get("renamed_from"),
            create_new=body.get("create") == "new",
            origins=origins,
        )
        client.merchant = self._client_merchant(body.get("merchant"), env_merchant, locate, field)
        client.onbehalfof = parse_onbehalfof(
            body.get("onbehalfof"),
            fields.get("integration_type"),
            orgno=self.orgno,
            organisations=self.organisations,
            locate=locate,
            field=field,
            errors=self.errors,
        )
        self._client_keys(client, body.get("keys"), locate, field)
        return client

    def _extend(
        self,
        key: str,
        source: _Source,
        base_name: str,
        shared: dict[str, _Source],
        body: dict[str, Any],
        origins: Origins,
    ) -> tuple[dict[str, Any], Origins] | None:
        """The client merged over the shared definition it extends (None: no such definition)."""
        base = shared.get(base_name)
        if base is None:
            guess = difflib.get_close_matches(base_name, list(shared), n=1)
            self._fail(
                source.doc.locate(("clients", key, "extends")),
                f"{dotted(('clients', key))}.extends",
                f"no shared definition named '{base_name}'",
                f"did you mean '{guess[0]}'?"
                if guess
                else f"define it under `clients:` in {SHARED_FILE}",
            )
            return None
        merged, merged_origins = merge_with_origins(_lookup(base), base.origins(), body, origins)
        merged.pop("extends", None)
        return merged, merged_origins

    def _client_merchant(
        self,
        override: Any,
        env_merchant: Merchant,
        locate: Callable[[PathKey], Position | None],
        field: str,
    ) -> Merchant:
        """The environment's merchant data with the client's own `merchant:` over it."""
        merged = dict(env_merchant.as_dict())
        if isinstance(override, dict):
            checked = dict(override)
            if isinstance(override.get("invoice"), dict) and env_merchant.invoice:
                # Judge the invoice the client ends up with, not its override alone.
                checked["invoice"] = {**env_merchant.invoice, **override["invoice"]}
            self.errors.extend(
                rules.check_merchant(
                    checked,
                    production=False,
                    locate=lambda p: locate(("merchant", *p)),
                    field_prefix=f"{field}.merchant",
                )
            )
            for name, value in override.items():
                if value is None:
                    continue
                if name == "invoice" and isinstance(value, dict):
                    # Key by key: a client's own reference keeps the environment's orgno,
                    # contact and PEPPOL address (a null keeps the environment's value).
                    base = merged.get("invoice") or {}
                    value = {**base, **{k: v for k, v in value.items() if v is not None}}
                merged[name] = value
        return _merchant(merged)

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
                    f"key file '{entry}' "
                    + ("is not a regular file" if path.exists() else "does not exist"),
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


def _ignored(environment: tuple[str, ...], own: Any) -> tuple[str, ...]:
    """The environment's `ignore` plus the client's own, in order, each once."""
    names = list(environment) + [str(f) for f in own or () if isinstance(f, str)]
    return tuple(dict.fromkeys(names))


def _about_ignored(diagnostic_field: str, prefix: str, ignore: tuple[str, ...]) -> bool:
    """Whether a rule's diagnostic is about an ignored field (``clients.a.redirect_uris[1]``)."""
    if not ignore or not diagnostic_field.startswith(prefix + "."):
        return False
    rest = diagnostic_field[len(prefix) + 1 :]
    name = rest.split(".", 1)[0].split("[", 1)[0]
    return name in ignore


def _lookup(source: _Source) -> Any:
    value: Any = source.doc.data
    for part in source.prefix:
        value = value[part]
    return value


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
