"""``selvsync list`` and ``selvsync output``: what is live, read-only (``idporten:dcr.read``).

``list`` shows every live client per environment: key, client_id, ownership class, integration
type, name, key expiry and secret age. ``output`` maps each declared key to its live
client_id, for deploy pipelines and Helm values.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import click

from selvsync.cli import connecting
from selvsync.cli.options import progress, project_options, workspace_mode
from selvsync.errors import ExitCode
from selvsync.live.inventory import Row, declared_client_ids, inventory
from selvsync.render.common import clean

_COLUMNS = (
    ("ENV", "environment"),
    ("KEY", "key"),
    ("CLIENT_ID", "client_id"),
    ("OWNERSHIP", "ownership"),
    ("TYPE", "integration_type"),
    ("NAME", "client_name"),
    ("KEY EXPIRY", "key_expiry"),
    ("SECRET AGE", "secret_age_days"),
)


def _cell(row: Row, field: str) -> str:
    value = row.as_dict()[field]
    if value is None:
        return "-"
    if field == "secret_age_days":
        return f"{value} d" + (" (lost: rotate)" if row.secret_pending else "")
    return clean(str(value))


def _table(rows: list[Row]) -> str:
    cells = [[title for title, _ in _COLUMNS]]
    cells += [[_cell(r, f) for _, f in _COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]
    return "\n".join(lines) + "\n"


@click.command("list")
@project_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for scripts.",
)
def list_command(directory: Path, envs: tuple[str, ...], orgs: tuple[str, ...], fmt: str) -> int:
    """List the live clients of each environment (read-only)."""
    _single_organisation(directory, orgs, "list")
    with connecting.reader(directory, envs) as session:
        rows = inventory(session, time.time())
    if fmt == "json":
        doc = {"format_version": 1, "clients": [r.as_dict() for r in rows]}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        click.echo(_table(rows), nl=False)
    return ExitCode.OK


def _env_name(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_").upper() for p in parts)


@click.command("output")
@project_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "env"]),
    default="json",
    show_default=True,
    help="json: {env: {key: client_id}}; env: KEY_CLIENT_ID=... lines "
    "(ENV_KEY_CLIENT_ID when several environments are selected).",
)
def output_command(directory: Path, envs: tuple[str, ...], orgs: tuple[str, ...], fmt: str) -> int:
    """Print each declared key's live client_id (read-only), for deploy pipelines.

    Exits 1 when a declared client does not exist yet (run `selvsync apply` first)."""
    _single_organisation(directory, orgs, "output")
    with connecting.reader(directory, envs) as session:
        ids = declared_client_ids(session)
    missing = [
        f"{env}/{key}" for env, keys in ids.items() for key, cid in keys.items() if cid is None
    ]
    if fmt == "json":
        click.echo(json.dumps(ids, indent=2, sort_keys=True))
    else:
        several = len(ids) > 1
        for env, keys in ids.items():
            for key, cid in keys.items():
                if cid is None:
                    continue
                name = _env_name(env, key) if several else _env_name(key)
                click.echo(f"{name}_CLIENT_ID={cid}")
    if missing:
        progress("not created yet (run `selvsync apply`): " + ", ".join(missing))
        return ExitCode.ERROR
    return ExitCode.OK


def _single_organisation(directory: Path, orgs: tuple[str, ...], command: str) -> None:
    if workspace_mode(directory, orgs):
        raise click.UsageError(
            f"`selvsync {command}` does not support projects with `organisations:` yet; "
            "see docs/organisations.md"
        )
