"""Options shared by the commands, defined once so that every command spells them alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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


def one_environment_option(help_text: str = "The environment.") -> Callable[[FC], FC]:
    """``--env ENV``, required: for commands that act on exactly one environment."""
    return click.option("--env", "-e", "env", required=True, metavar="ENV", help=help_text)
