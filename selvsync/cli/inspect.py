"""``validate`` and ``show``: offline looks at the configuration."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from selvsync.cli.options import effective_clients, project_options, workspace_mode
from selvsync.config import load_project
from selvsync.errors import ExitCode
from selvsync.model import Project
from selvsync.yaml import dump


def _load(directory: Path, envs: Sequence[str]) -> Project:
    return load_project(directory, list(envs) or None)


@click.command()
@project_options
def validate(directory: Path, envs: tuple[str, ...], orgs: tuple[str, ...]) -> int:
    """Check YAML, schema and Digdir's rules offline (no network, no credentials)."""
    if workspace_mode(directory, orgs):
        from selvsync.cli import organisations

        return organisations.validate(directory, envs, orgs)
    project = _load(directory, envs)
    parts = [f"{name} ({len(state.clients)} clients)" for name, state in project.states.items()]
    click.echo("valid: " + ", ".join(parts))
    return ExitCode.OK


@click.command()
@project_options
def show(directory: Path, envs: tuple[str, ...], orgs: tuple[str, ...]) -> int:
    """Print the effective, fully resolved desired state of each environment as YAML."""
    if workspace_mode(directory, orgs):
        from selvsync.cli import organisations

        return organisations.show(directory, envs, orgs)
    project = _load(directory, envs)
    out: dict[str, Any] = {}
    for name, state in project.states.items():
        clients = effective_clients(state)
        out[name] = {
            "production": state.environment.production,
            "api": state.environment.api,
            "files": state.files,
            "merchant": state.merchant.as_dict(),
            "clients": clients,
        }
    click.echo(dump(out), nl=False)
    return ExitCode.OK

