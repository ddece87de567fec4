"""The thin click layer: parse arguments, call the library, render, map errors to exit codes.

Each command is a function that returns an exit code (see ExitCode). ``main`` runs click in
non-standalone mode so that usage errors exit 64 (click's default of 2 means "changes present"
for ``plan --detailed-exitcode``), and every SelvsyncError exits with its own code.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from selvsync import __version__
from selvsync.config import load_project
from selvsync.errors import ConfigError, ExitCode, SelvsyncError
from selvsync.model import Project
from selvsync.yaml import dump


def _project_options(func: Any) -> Any:
    func = click.option(
        "--env", "-e", "envs", multiple=True, metavar="ENV",
        help="Environment to work on (repeatable). Default: every environment in selvsync.yaml.",
    )(func)
    func = click.option(
        "-C", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
        show_default=True, help="Project directory (holds selvsync.yaml).",
    )(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="selvsync")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for HTTP requests).")
def cli(verbose: int) -> None:
    """Declare Digdir clients as YAML; plan and apply them."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _load(directory: Path, envs: Sequence[str]) -> Project:
    return load_project(directory, list(envs) or None)


@cli.command()
@_project_options
def validate(directory: Path, envs: tuple[str, ...]) -> int:
    """Check YAML, schema and Digdir's rules offline (no network, no credentials)."""
    project = _load(directory, envs)
    parts = [f"{name} ({len(state.clients)} clients)" for name, state in project.states.items()]
    click.echo("valid: " + ", ".join(parts))
    return ExitCode.OK


@cli.command()
@_project_options
def show(directory: Path, envs: tuple[str, ...]) -> int:
    """Print the effective, fully resolved desired state of each environment as YAML."""
    project = _load(directory, envs)
    out: dict[str, Any] = {}
    for name, state in project.states.items():
        clients: dict[str, Any] = {}
        for key, client in state.clients.items():
            entry = dict(client.fields)
            entry.update(client.settings())
            if client.keys:
                entry["keys"] = [{"kid": k["kid"], "alg": k["alg"]} for k in client.keys]
            if client.merchant and not client.merchant.empty:
                entry["merchant"] = client.merchant.as_dict()
            clients[key] = entry
        out[name] = {
            "production": state.environment.production,
            "api": state.environment.api,
            "files": state.files,
            "merchant": state.merchant.as_dict(),
            "clients": clients,
        }
    click.echo(dump(out), nl=False)
    return ExitCode.OK


def _register_optional_commands() -> None:
    try:
        from selvsync.cli_emulator import emulator_command
    except ImportError:  # pragma: no cover - the emulator package is part of every install
        return
    cli.add_command(emulator_command, "emulator")


_register_optional_commands()


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point. Returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args, prog_name="selvsync", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.format_message() if hasattr(exc, "format_message") else str(exc), err=True)
        return ExitCode.USAGE
    except click.UsageError as exc:
        exc.show()
        return ExitCode.USAGE
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        return ExitCode.INTERRUPTED
    except ConfigError as exc:
        click.echo(exc.render(), err=True)
        count = len(exc.diagnostics)
        click.echo(f"{count} error{'s' if count != 1 else ''} in the configuration", err=True)
        return exc.exit_code
    except SelvsyncError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE
    if isinstance(result, int):
        return result
    return ExitCode.OK
