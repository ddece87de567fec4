"""Options shared by the commands, defined once so that every command spells them alike."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.decorators import FC

directory_option = click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Project directory (holds selvsync.yaml).",
)

environments_option = click.option(
    "--env",
    "-e",
    "envs",
    multiple=True,
    metavar="ENV",
    help="Environment to work on (repeatable). Default: every environment in selvsync.yaml.",
)


organisations_option = click.option(
    "--org",
    "orgs",
    multiple=True,
    metavar="NAME",
    help="Organisation to work on (repeatable), in a project with `organisations:`. "
    "Default: every organisation.",
)


def workspace_mode(directory: Path, orgs: tuple[str, ...]) -> bool:
    """Whether the project declares `organisations:` (docs/organisations.md). ``--org`` in a
    project without them is a usage error."""
    from selvsync.config.organisations import declares_organisations

    if declares_organisations(directory):
        return True
    if orgs:
        raise click.UsageError("--org needs a project with `organisations:` in selvsync.yaml")
    return False


def one_environment_option(help_text: str = "The environment.") -> Callable[[FC], FC]:
    """``--env ENV``, required: for commands that act on exactly one environment."""
    return click.option("--env", "-e", "env", required=True, metavar="ENV", help=help_text)


def project_options(func: FC) -> FC:
    """``-C DIR`` and ``--env ENV`` (repeatable): for commands over a whole project."""
    return directory_option(environments_option(organisations_option(func)))


renew_keys_option = click.option(
    "--renew-keys",
    is_flag=True,
    help="Explain, for each key expiring within the warning window, how to renew it (a new "
    "key: re-posting a key set does not renew keys at Digdir). Writes nothing extra.",
)


def color(stream: Any) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (no-color.org)."""
    return bool(stream.isatty()) and "NO_COLOR" not in os.environ


def progress(message: str) -> None:
    """Progress and diagnostics go to stderr; stdout carries only the command's result.
    They may quote live data (names, Digdir's messages): escaped like every rendered value."""
    from selvsync.render.common import clean_lines

    click.echo(clean_lines(message), err=True)
