"""Several organisations in one project: selvsync.yaml's `organisations:` -> a Workspace.

Layout (docs/organisations.md)::

    selvsync.yaml                  orgno/owner of the project (the supplier or the group's
                                   parent), environments (the shared connection), templates,
                                   organisations: {NAME: {orgno, variables, environments, ...}}
    shared.yaml                    definitions; `templates:` names those every organisation gets
    organisations/<org>/<env>.yaml one organisation's declared state for one environment
                                   (or organisations/<org>/<env>/*.yaml)

Each organisation becomes an ordinary :class:`~selvsync.model.Project` (its orgno, the
project's owner unless it says otherwise, its environments) loaded by the same loader as a
single-organisation project, so everything below (live/, plan/, apply/) runs unchanged and
one organisation can only ever see and write its own clients. A mistake in one organisation's
files is that organisation's ConfigError; the others still load.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from selvsync import rules
from selvsync.config import (
    ENVIRONMENTS_DIR,
    PROJECT_FILE,
    SHARED_FILE,
    _ProjectLoader,
    display_path,
)
from selvsync.config.environment import parse_environment
from selvsync.errors import ConfigError, Diagnostic, Position
from selvsync.model import EnvironmentSettings, Organisation, Project, Workspace
from selvsync.yaml import Document, dotted, load_file

ORGANISATIONS_DIR = "organisations"
# An organisation's environment entry that names any of these has its own connection (its own
# admin client, or for the emulator a token of its own organisation); otherwise it is reached
# through the project's credential.
CONNECTION_KEYS = frozenset({"api", "digdir", "auth", "prefix", "emulator_db", "issuer"})


def declares_organisations(root: Path) -> bool:
    """Whether selvsync.yaml has `organisations:` (a cheap look before the full load)."""
    path = root / PROJECT_FILE
    if not path.is_file():
        return False
    try:
        doc = load_file(path, display_path(path))
    except ConfigError:
        return False  # the ordinary loader reports it
    return isinstance(doc.data, dict) and "organisations" in doc.data


def load_workspace(
    root: Path,
    only: Iterable[str] | None = None,
    orgs: Iterable[str] | None = None,
    *,
    missing_states_ok: bool = False,
) -> Workspace:
    """selvsync.yaml and every selected organisation's files.

    Raises ConfigError for problems with the project as a whole (selvsync.yaml, shared.yaml,
    an unknown organisation folder or name); an organisation's own problems go to
    ``workspace.errors[name]`` and the others load as usual.
    """
    selected_envs = list(only) if only else None
    top = _ProjectLoader(root)
    project, doc = top.settings(selected_envs)
    data: dict[str, Any] = doc.data
    organisations = _organisations(data, project, doc, top.errors)
    wanted = list(orgs or [])
    for name in wanted:
        if name not in organisations:
            guess = difflib.get_close_matches(name, list(organisations), n=1)
            top._fail(
                doc.locate(("organisations",)),
                "organisations",
                f"no organisation named '{name}'",
                f"did you mean '{guess[0]}'?" if guess else "declared: " + ", ".join(organisations),
            )
    _check_folders(root, organisations, top)
    if (root / SHARED_FILE).is_file():
        top._shared()  # shared.yaml's own problems belong to every organisation: report once
    if top.errors:
        raise ConfigError(top.errors)
    env_names = [n for n in project.environments if not selected_envs or n in selected_envs]
    workspace = Workspace(
        root=root,
        orgno=project.orgno,
        owner=project.owner,
        environments=project.environments,
        organisations=organisations,
        supplier=bool(data.get("supplier", False)),
        selected=[n for n in organisations if not wanted or n in wanted],
    )
    for name in workspace.selected:
        org = organisations[name]
        try:
            workspace.projects[name] = _load_organisation(
                root, org, project, doc, env_names, data, missing_states_ok,
                tuple(organisations.values()),
            )
        except ConfigError as exc:
            workspace.errors[name] = exc
    return workspace


def _organisations(
    data: dict[str, Any], project: Project, doc: Document, errors: list[Diagnostic]
) -> dict[str, Organisation]:
    out: dict[str, Organisation] = {}
    seen: dict[str, str] = {}
    templates = tuple(str(t) for t in data.get("templates") or ())
    for name, raw in (data.get("organisations") or {}).items():
        here = ("organisations", name)
        orgno = str(raw["orgno"])
        # MOD11 offline: a typo in an orgno is caught before anything is read or written.
        errors.extend(
            rules.check_orgno(orgno, doc.locate((*here, "orgno")), dotted((*here, "orgno")))
        )
        if orgno in seen:
            errors.append(
                Diagnostic(
                    doc.locate((*here, "orgno")),
                    dotted((*here, "orgno")),
                    f"orgno {orgno} is already organisation '{seen[orgno]}'",
                    "one organisation per orgno: a client belongs to exactly one",
                )
            )
        seen[orgno] = name
        own = raw.get("environments") or {}
        for env in own:
            if env not in project.environments:
                errors.append(
                    Diagnostic(
                        doc.locate_key((*here, "environments", env)),
                        dotted((*here, "environments", env)),
                        f"environment '{env}' is not declared in selvsync.yaml",
                        "organisations adjust the project's environments; declare it there",
                    )
                )
        org_templates = raw.get("templates")
        out[name] = Organisation(
            name=name,
            orgno=orgno,
            owner=str(raw.get("owner") or project.owner),
            variables={str(k): str(v) for k, v in (raw.get("variables") or {}).items()},
            templates=templates if org_templates is None else tuple(str(t) for t in org_templates),
            retired=bool(raw.get("retired", False)),
            own_connection=frozenset(
                env for env, body in own.items() if CONNECTION_KEYS & set(body or {})
            ),
        )
    return out


def _check_folders(root: Path, organisations: dict[str, Organisation], top: _ProjectLoader) -> None:
    legacy = root / ENVIRONMENTS_DIR
    if legacy.is_dir() and any(legacy.iterdir()):
        top._fail(
            Position(display_path(legacy), 1, 1),
            "",
            f"{ENVIRONMENTS_DIR}/ is not read in a project with `organisations:`",
            f"move each organisation's files to {ORGANISATIONS_DIR}/<organisation>/<env>.yaml",
        )
    base = root / ORGANISATIONS_DIR
    if not base.is_dir():
        return
    for entry in sorted(base.iterdir()):
        if entry.is_dir() and entry.name not in organisations:
            guess = difflib.get_close_matches(entry.name, list(organisations), n=1)
            top._fail(
                Position(display_path(entry), 1, 1),
                "",
                f"organisation '{entry.name}' is not declared in selvsync.yaml",
                f"did you mean '{guess[0]}'?"
                if guess
                else f"add it under `organisations:` or remove {display_path(entry)}",
            )


def _load_organisation(
    root: Path,
    org: Organisation,
    project: Project,
    doc: Document,
    env_names: list[str],
    data: dict[str, Any],
    missing_states_ok: bool,
    organisations: tuple[Organisation, ...] = (),
) -> Project:
    """One organisation's Project, through the single-organisation loader."""
    errors: list[Diagnostic] = []
    raw_org = data["organisations"][org.name]
    own = raw_org.get("environments") or {}
    environments: dict[str, EnvironmentSettings] = {}
    org_vars = {"org.name": org.name, "org.orgno": org.orgno}
    org_vars |= {f"org.{k}": v for k, v in org.variables.items()}
    for name, env in project.environments.items():
        if name in own:
            merged = {**data["environments"][name], **(own[name] or {})}
            env = parse_environment(name, merged, doc, root, errors)
        variables = {**env.variables, **org.variables, **org_vars}
        secrets = env.secrets
        if secrets and "file" in secrets and "secrets" not in (own.get(name) or {}):
            # One sink file per organisation: two customers may both have a client `web`.
            path = Path(str(secrets["file"]))
            secrets = {"file": str(path.with_name(f"{path.stem}-{org.name}{path.suffix}"))}
        environments[name] = dataclasses.replace(env, variables=variables, secrets=secrets)
    loader = _ProjectLoader(
        root, missing_states_ok=missing_states_ok or org.retired or bool(org.templates)
    )
    loader.errors.extend(errors)
    loader.organisations = organisations
    loader.states_dir = root / ORGANISATIONS_DIR / org.name
    if org.retired:
        loader.states_dir = root / ORGANISATIONS_DIR / org.name / ".retired"
    else:
        loader.templates = org.templates
        for i, name in enumerate(org.templates):
            _check_template(loader, name, doc, ("organisations", org.name, "templates", i))
    org_project = Project(
        root, org.orgno, org.owner, environments, previous_owners=project.previous_owners
    )
    loader.states(org_project, doc, env_names)  # raises ConfigError with every problem
    return org_project


def _check_template(
    loader: _ProjectLoader, name: str, doc: Document, where: tuple[Any, ...]
) -> None:
    shared = loader._shared()
    if name not in shared:
        pos = doc.locate(where) or doc.locate(("templates",))
        loader._fail(
            pos,
            "templates",
            f"no shared definition named '{name}' for a template",
            f"define it under `clients:` in {SHARED_FILE}",
        )
