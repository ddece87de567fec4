"""Options shared by the commands, defined once so that every command spells them alike."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.decorators import FC

if TYPE_CHECKING:  # the model is loaded by the commands that use it, not at start-up
    from selvsync.model import DesiredState

ROOT_DIRECTORY = "selvsync.directory"  # -C given before the command: ctx.meta key


def _directory(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    """-C after the command wins; else -C before it (``selvsync -C DIR plan``); else "."."""
    if value is not None:
        return value
    root = ctx.find_root().meta.get(ROOT_DIRECTORY)
    return Path(root) if root is not None else Path(".")


directory_option = click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    callback=_directory,
    help="Project directory (holds selvsync.yaml). Default: the current directory.",
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


refresh_option = click.option(
    "--refresh",
    is_flag=True,
    help="Read every declared key set, also where the client's marker shows it unchanged since "
    "selvsync registered it: finds keys changed in the portal (the drift check uses it).",
)


def color(stream: Any) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (no-color.org)."""
    return bool(stream.isatty()) and "NO_COLOR" not in os.environ


def progress(message: str) -> None:
    """Progress and diagnostics go to stderr; stdout carries only the command's result.
    They may quote live data (names, Digdir's messages): escaped like every rendered value."""
    from selvsync.render.common import clean_lines

    click.echo(clean_lines(message), err=True)


def override_options(func: FC) -> FC:
    """The narrow overrides of the safety refusals (see selvsync.plan.safety)."""
    for option in reversed(
        [
            click.option(
                "--allow-empty-listing",
                is_flag=True,
                help="Allow creating every declared client although Digdir listed none "
                "(the first apply of an organisation).",
            ),
            click.option(
                "--allow-deactivate",
                "allow_deactivate",
                multiple=True,
                metavar="KEY",
                help="Allow deactivating or replacing this protected client (repeatable).",
            ),
            click.option(
                "--allow-over-limit",
                is_flag=True,
                help="Allow more deactivations or replacements than the safety limits "
                "(max_destroy, max_destroy_percent, every managed client).",
            ),
        ]
    ):
        func = option(func)
    return func


_verbosity = {"level": 0}


def set_verbosity(count: int) -> None:
    """Configure logging for ``count`` times -v (0 warnings only, 1 progress, 2 requests)."""
    _verbosity["level"] = count
    level = logging.WARNING if count == 0 else logging.INFO if count == 1 else logging.DEBUG
    root = logging.getLogger()
    root.setLevel(level)
    if not root.handlers:
        logging.basicConfig(
            level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )
    # selvsync.http logs every request (method, path, status, timing), redacted; httpx's own
    # INFO lines would repeat them with full URLs.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


def verbosity() -> int:
    return _verbosity["level"]


def confirm_apply(count: int, skip_with: str) -> bool:
    """Ask for `yes` on a terminal; no terminal is a refusal naming ``skip_with``."""
    from selvsync.errors import UnsafePlanError

    if not sys.stdin.isatty():
        raise UnsafePlanError(
            f"no terminal to confirm on; review the plan and pass {skip_with} to apply "
            "without asking"
        )
    answer = click.prompt(
        f"Apply these {count} changes? Only 'yes' is accepted",
        default="",
        show_default=False,
        err=True,
    )
    return bool(answer.strip() == "yes")


def effective_clients(state: DesiredState) -> dict[str, Any]:
    """Each client as `show` prints it: its fields, selvsync's settings, kids, merchant data."""
    clients: dict[str, Any] = {}
    for key, client in state.clients.items():
        entry = dict(client.fields)
        entry.update(client.settings())
        if client.keys:
            entry["keys"] = [{"kid": k["kid"], "alg": k["alg"]} for k in client.keys]
        if client.merchant and not client.merchant.empty:
            entry["merchant"] = client.merchant.as_dict()
        clients[key] = entry
    return clients
