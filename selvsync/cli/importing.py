"""``selvsync import``: write live clients that nobody manages yet as environment YAML.

The logic lives in :mod:`selvsync.scaffold.importer`; this module parses options, opens the
API client, writes the files or stdout and reports on stderr. The YAML goes to stdout
(or ``--out``); everything else (skipped, foreign and key notes, warnings) goes to stderr, so
``selvsync import --env test > environments/test.yaml`` gives a clean file.

Registered by :mod:`selvsync.cli` as ``import``; like every command it returns its exit code.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Final

import click

from selvsync import config
from selvsync.cli import connecting
from selvsync.cli.options import directory_option, one_environment_option, progress
from selvsync.errors import ExitCode
from selvsync.live.session import Session
from selvsync.model import Project
from selvsync.scaffold.import_scopes import import_scopes, render_scopes_yaml
from selvsync.scaffold.importer import (
    ImportResult,
    OutputExistsError,
    import_environment,
    lost_clients,
    output_files,
    render_yaml,
)
from selvsync.scaffold.importer import write_files as write_output

__all__ = ["import_command"]

_NO_STATE: Final = "no state file for environment"


def _report(result: ImportResult, *, out: Path | None) -> None:
    env = result.environment
    for skipped in result.skipped:
        click.echo(
            f"{env}: skipped {skipped.client_id} ({skipped.client_name}): {skipped.reason}",
            err=True,
        )
    for foreign in result.foreign:
        taken = any(c.client_id == foreign.client_id for c in result.clients)
        what = "imported because of --include-foreign" if taken else "not imported"
        click.echo(
            f"{env}: foreign {foreign.client_id} ({foreign.client_name}) belongs to "
            f"{foreign.owner}: {what}",
            err=True,
        )
    if result.foreign and not any(c.foreign for c in result.clients):
        click.echo(f"{env}: pass --include-foreign to import foreign clients too", err=True)
    if out is None:
        for client in result.with_keys:
            click.echo(
                f"{env}: {client.key} has {len(client.jwks)} public key(s) at Digdir; they are "
                "left out of stdout: run with --out FILE to write them to keys/ and reference "
                "them with `keys:`",
                err=True,
            )
    for warning in result.warnings:
        click.echo(f"warning: {env}: {warning}", err=True)
    count = len(result.clients)
    click.echo(
        f"{env}: imported {count} client{'s' if count != 1 else ''}, skipped "
        f"{len(result.skipped)} already managed or declared, {len(result.foreign)} foreign",
        err=True,
    )


def _load(directory: Path, env: str) -> tuple[Project, str | None]:
    """The project, and a note for stderr when the environment has no state file yet (before
    the first import): then every unmarked client is imported."""
    project = config.load_project(directory, [env], missing_states_ok=True)
    state = project.states[env]
    if not state.files:
        return project, f"{env}: no state file yet; importing every unmarked client"
    return project, None


@click.command("import")
@directory_option
@one_environment_option("The environment to read.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the YAML to this file (and public keys to keys/) instead of stdout.",
)
@click.option("--force", is_flag=True, help="Overwrite --out and key files that already exist.")
@click.option(
    "--include-foreign",
    is_flag=True,
    help="Also import clients another owner or tool (digdirator) manages.",
)
@click.option(
    "--scopes",
    "scopes",
    is_flag=True,
    help="Import the organisation's Maskinporten scopes and their consumers instead of clients.",
)
def import_command(
    directory: Path, env: str, out: Path | None, force: bool, include_foreign: bool,
    scopes: bool = False,
) -> int:
    """Write the live clients selvsync does not manage yet as environment YAML.

    Every unmarked active client is written with its client_id, so the next plan shows one
    `adopt` per client that only writes selvsync's marker into the description. With
    --scopes: the scopes the organisation owns and their approved consumers instead.
    """
    project, note = _load(directory, env)
    if note is not None:
        progress(note)
    if scopes:
        return _import_scopes(project, directory, env, out, force)
    with Session(project, connecting.default_factory(project), command="plan") as session:
        result = import_environment(
            session.client(env),
            project.states[env],
            project.owner,
            include_foreign=include_foreign,
        )
    command = shlex.join(["selvsync", "import", "--env", env])
    if out is None:
        click.echo(render_yaml(result, with_keys=False, command=command), nl=False)
        _report(result, out=None)
        return ExitCode.OK
    files = output_files(result, out=out, project_root=directory, command=command)
    lost = lost_clients(files)
    for path, keys in lost.items():
        click.echo(
            f"{path} declares {len(keys)} client(s) the imported file would drop: "
            + ", ".join(keys),
            err=True,
        )
    if lost and not force:
        raise OutputExistsError(
            "nothing was written: overwriting would lose the declared clients listed above "
            "(import into a new file with --out, or pass --force to overwrite anyway)"
        )
    written = write_output(files, force=force)
    _report(result, out=out)
    for path in written:
        click.echo(f"wrote {path}", err=True)
    if result.clients:
        click.echo(
            f"next: `selvsync plan -C {shlex.quote(str(directory))} --env {env}` shows one "
            "adopt per client; `selvsync apply` then writes only selvsync's marker",
            err=True,
        )
    return ExitCode.OK


def _import_scopes(project: Project, directory: Path, env: str, out: Path | None,
                   force: bool) -> int:
    with Session(project, connecting.default_factory(project), command="plan") as session:
        result = import_scopes(session.client(env), project.states[env])
    command = shlex.join(["selvsync", "import", "--scopes", "--env", env])
    text = render_scopes_yaml(result, command)
    if out is None:
        click.echo(text, nl=False)
    else:
        write_output({out: text}, force=force)
        click.echo(f"wrote {out}", err=True)
    for name in result.skipped:
        click.echo(f"{env}: skipped scope {name}: already declared", err=True)
    for name in result.not_owned:
        click.echo(f"{env}: skipped scope {name}: outside the owned prefixes", err=True)
    for line in result.pending:
        click.echo(f"{env}: not imported (declaring it would grant it): {line}", err=True)
    owned = project.environments[env].scopes.owned
    missing = [p for p in result.prefixes if not any(o.partition(":")[0] == p for o in owned)]
    if missing:
        click.echo(
            f"{env}: add `scopes: {{prefixes: [{', '.join(missing)}]}}` to environment "
            f"'{env}' in selvsync.yaml, so that selvsync owns these scopes",
            err=True,
        )
    click.echo(f"{env}: imported {len(result.scopes)} scope(s)", err=True)
    return ExitCode.OK
