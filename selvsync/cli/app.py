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
from selvsync.cli.apply import apply, rotate_secret
from selvsync.cli.emulator import emulator_command
from selvsync.cli.importing import import_command
from selvsync.cli.inspect import show, validate
from selvsync.cli.keygen import keygen
from selvsync.cli.merchant import merchant
from selvsync.cli.plan import plan
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


COMMANDS: dict[str, click.Command] = {
    "validate": validate,
    "show": show,
    "plan": plan,
    "apply": apply,
    "rotate-secret": rotate_secret,
    "import": import_command,
    "keygen": keygen,
    "merchant": merchant,
    "emulator": emulator_command,
}
for _name, _command in COMMANDS.items():
    cli.add_command(_command, _name)


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
