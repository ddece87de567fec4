"""The click group, command registration and ``main``: exception to exit code.

Each command is a function that returns an exit code (see ExitCode). ``main`` runs click in
non-standalone mode so that usage errors exit 64 (click's default of 2 means "changes present"
for ``plan --detailed-exitcode``), and every SelvsyncError exits with its own code.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from selvsync import __version__
from selvsync.cli.lazy import LazyCommands
from selvsync.errors import ConfigError, ExitCode, SelvsyncError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="selvsync")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for HTTP requests).")
def cli(verbose: int) -> None:
    """Declare Digdir clients as YAML; plan and apply them."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # selvsync.http logs every request (method, path, status, timing), redacted; httpx's own
    # INFO lines would repeat them with full URLs.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


# Each command's module is imported when the command runs (or help lists it): see cli/lazy.py.
COMMANDS: dict[str, str] = {
    "validate": "selvsync.cli.inspect:validate",
    "show": "selvsync.cli.inspect:show",
    "plan": "selvsync.cli.plan:plan",
    "apply": "selvsync.cli.apply:apply",
    "rotate-secret": "selvsync.cli.apply:rotate_secret",
    "import": "selvsync.cli.importing:import_command",
    "keygen": "selvsync.cli.keygen:keygen",
    "merchant": "selvsync.cli.merchant:merchant",
    "emulator": "selvsync.cli.emulator:emulator_command",
}
cli.commands = LazyCommands(COMMANDS)


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
        from selvsync.render.common import clean_lines  # only on this path: start-up cost

        click.echo(clean_lines(f"error: {exc}"), err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE
    if isinstance(result, int):
        return result
    return ExitCode.OK
