"""``selvsync merchant confirm``: record that merchant data was entered in the portal."""

from __future__ import annotations

from pathlib import Path

import click

from selvsync.apply.merchant_confirm import confirm_merchant
from selvsync.cli import connecting
from selvsync.cli.options import directory_option, one_environment_option
from selvsync.errors import ExitCode


@click.group()
def merchant() -> None:
    """Merchant data (notification e-mails, invoice details)."""


@merchant.command("confirm")
@directory_option
@one_environment_option()
@click.argument("keys", nargs=-1)
def merchant_confirm(directory: Path, env: str, keys: tuple[str, ...]) -> int:
    """Record that the declared merchant data of KEYS (default: all) was entered in the portal."""
    with connecting.writer(directory, [env], prefetch=False) as session:
        done = confirm_merchant(session, env, keys)
    click.echo(
        f"{env}: confirmed merchant data of {', '.join(done) or 'no clients'}; the "
        "reminder returns when the YAML changes."
    )
    return ExitCode.OK
