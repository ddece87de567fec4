"""The click group, command registration and ``main``: exception to exit code.

Each command is a function that returns an exit code (see ExitCode). ``main`` runs click in
non-standalone mode so that usage errors exit 64 (click's default of 2 means "changes present"
for ``plan --detailed-exitcode``), and every SelvsyncError exits with its own code.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Sequence

import click

from selvsync import __version__
from selvsync.cli.lazy import LazyCommands
from selvsync.cli.options import ROOT_DIRECTORY, set_verbosity, verbosity
from selvsync.errors import ConfigError, ExitCode, SelvsyncError


def _more_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    """-v after the command (``selvsync plan -v``) adds to any -v before it."""
    if value:
        set_verbosity(verbosity() + value)


def _root_directory(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta[ROOT_DIRECTORY] = value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="selvsync")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for HTTP requests).")
@click.option(
    "-C",
    "directory",
    metavar="DIR",
    default=None,
    expose_value=False,
    callback=_root_directory,
    help="Project directory for the command (the command's own -C wins).",
)
def cli(verbose: int) -> None:
    """Declare Digdir clients as YAML; plan and apply them."""
    set_verbosity(verbose)


def _add_verbose(command: click.Command) -> None:
    """-v after the command too: each command gets its own -v that adds to the group's."""
    if any(p.name == "verbose" for p in command.params):
        return
    command.params.append(
        click.Option(
            ["-v", "--verbose"],
            count=True,
            expose_value=False,
            callback=_more_verbose,
            help="More detail on stderr (-vv for HTTP requests); also before the command.",
        )
    )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_verbose(sub)


class _Commands(LazyCommands):
    """The lazy command table, each command given -v when it is first loaded."""

    def _load(self, name: str) -> None:
        super()._load(name)
        if dict.__contains__(self, name):
            _add_verbose(dict.__getitem__(self, name))


# Each command's module is imported when the command runs (or help lists it): see cli/lazy.py.
COMMANDS: dict[str, str] = {
    "validate": "selvsync.cli.inspect:validate",
    "show": "selvsync.cli.inspect:show",
    "plan": "selvsync.cli.plan:plan",
    "apply": "selvsync.cli.apply:apply",
    "rotate-secret": "selvsync.cli.apply:rotate_secret",
    "list": "selvsync.cli.listing:list_command",
    "output": "selvsync.cli.listing:output_command",
    "import": "selvsync.cli.importing:import_command",
    "keygen": "selvsync.cli.keygen:keygen",
    "merchant": "selvsync.cli.merchant:merchant",
    "emulator": "selvsync.cli.emulator:emulator_command",
}
cli.commands = _Commands(COMMANDS)


def _sigterm(signum: int, frame: object) -> None:
    """SIGTERM (a CI runner cancelling the job, `kill`) is handled like Ctrl-C: in-flight
    calls finish, the report says what happened, and the exit code is 130."""
    raise KeyboardInterrupt


def _install_sigterm() -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, _sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point. Returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # a process of its own (not a test calling main): see selvsync.gcpause
        from selvsync.gcpause import command_policy

        command_policy()
    restore = _install_sigterm()
    try:
        return _main(args)
    finally:
        restore()


def _main(args: list[str]) -> int:
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
        from selvsync.render.common import clean_lines  # only on this path: start-up cost

        click.echo(clean_lines(f"error: {exc}"), err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE
    if isinstance(result, int):
        return result
    return ExitCode.OK
