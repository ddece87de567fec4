"""The thin click layer: parse arguments, call the library, render, map errors to exit codes.

Each command is a function that returns an exit code (see ExitCode). ``main`` runs click in
non-standalone mode so that usage errors exit 64 (click's default of 2 means "changes present"
for ``plan --detailed-exitcode``), and every SelvsyncError exits with its own code.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from selvsync import __version__
from selvsync.api.connect import default_factory
from selvsync.apply.lock import apply_lock
from selvsync.apply.merchant_confirm import confirm_merchant
from selvsync.apply.runner import apply_plan, rotate_secret_now
from selvsync.cli.options import directory_option, environments_option, one_environment_option
from selvsync.config import load_project
from selvsync.errors import ConfigError, ExitCode, SelvsyncError, UnsafePlanError
from selvsync.live.session import (
    Session,
    check_after_apply,
    load_and_connect,
    load_fresh_plan,
    plan_project,
)
from selvsync.model import Project
from selvsync.plan import planfile
from selvsync.plan.changes import Plan, PlanOptions
from selvsync.render import FORMATS
from selvsync.render.apply_report import report_table, twin_notes
from selvsync.render.github_summary import write_step_summary
from selvsync.scaffold.keygen import check_private_target, generate, write_private
from selvsync.yaml import dump


def _project_options(func: Any) -> Any:
    return directory_option(environments_option(func))


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


_JSON_HINT = "Run `selvsync plan --format json` for the full plan."

_renew_keys_option = click.option(
    "--renew-keys",
    is_flag=True,
    help="Re-register key sets with keys that expire within the warning window.",
)


def _lock(project: Project) -> AbstractContextManager[None]:
    return apply_lock(project.root, on_wait=_progress)


@contextmanager
def _writer(directory: Path, envs: Sequence[str], *, prefetch: bool = True) -> Iterator[Session]:
    """A session with write scopes, holding the project's apply lock for its whole life."""
    with ExitStack() as stack:
        yield load_and_connect(
            directory,
            list(envs) or None,
            default_factory,
            "apply",
            stack,
            guard=_lock,
            prefetch=prefetch,
        )


def _color(stream: Any) -> bool:
    return bool(stream.isatty()) and "NO_COLOR" not in os.environ


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _render(plan: Plan, fmt: str, color: bool) -> str:
    from selvsync import render

    if fmt == "json":
        return render.render_json(plan)
    if fmt == "markdown":
        return render.render_markdown(plan, json_hint=_JSON_HINT)
    return render.render_text(plan, color=color)


def _options(renew_keys: bool) -> PlanOptions:
    return PlanOptions(now=time.time(), renew_keys=renew_keys)


def _step_summary(result: Plan, markdown: str | None) -> None:
    """In GitHub Actions, also put the plan on the job's summary page."""
    if not os.environ.get("GITHUB_STEP_SUMMARY"):
        return
    from selvsync import render

    text = (
        markdown if markdown is not None else render.render_markdown(result, json_hint=_JSON_HINT)
    )
    if not write_step_summary(text, os.environ):
        _progress("warning: could not write the plan to GITHUB_STEP_SUMMARY")


def _explain_refusals(plan: Plan, force: bool) -> list[str]:
    reasons = plan.refusals(force=force)
    for reason in reasons:
        click.echo(f"refused: {reason}", err=True)
    return reasons


@cli.command()
@_project_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="text",
    show_default=True,
    help="Output format of the plan on stdout.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the plan to this file, for `selvsync apply PLANFILE`.",
)
@_renew_keys_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when there are changes, 0 when there are none.",
)
def plan(
    directory: Path,
    envs: tuple[str, ...],
    fmt: str,
    out: Path | None,
    renew_keys: bool,
    detailed_exitcode: bool,
) -> int:
    """Read live state and print what apply would change."""
    with ExitStack() as stack:
        session = load_and_connect(directory, list(envs) or None, default_factory, "plan", stack)
        result = plan_project(session, options=_options(renew_keys))
    rendered = _render(result, fmt, _color(sys.stdout))
    click.echo(rendered, nl=False)
    _step_summary(result, rendered if fmt == "markdown" else None)
    if out is not None:
        planfile.write(result, out)
        _progress(f"plan written to {out}")
    if _explain_refusals(result, force=False):
        _progress("apply would refuse this plan (exit 4); see above")
        return ExitCode.REFUSED
    if detailed_exitcode and not result.empty:
        return ExitCode.CHANGES
    return ExitCode.OK


@cli.command()
@_project_options
@click.argument(
    "planfile_path",
    metavar="[PLANFILE]",
    required=False,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option(
    "--force",
    is_flag=True,
    help="Apply even when the plan exceeds the safety limits or touches protected clients.",
)
@_renew_keys_option
@click.option(
    "--continue-on-error",
    is_flag=True,
    help="After a failure, carry on with the remaining independent changes.",
)
def apply(
    directory: Path,
    envs: tuple[str, ...],
    planfile_path: Path | None,
    auto_approve: bool,
    force: bool,
    renew_keys: bool,
    continue_on_error: bool,
) -> int:
    """Create, update and deactivate clients so that live state matches the YAML."""
    from selvsync import render

    with _writer(directory, envs, prefetch=planfile_path is None) as session:
        if planfile_path is not None:
            result = load_fresh_plan(session, planfile_path)
        else:
            result = plan_project(session, options=_options(renew_keys))
        # Refusals first: blockers (e.g. two clients with one marker) refuse even a plan
        # without changes, exactly as `plan` does.
        if _explain_refusals(result, force=force):
            click.echo(render.render_text(result, color=_color(sys.stdout)), nl=False)
            raise UnsafePlanError(
                "the plan is unsafe; nothing was applied "
                "(fix the YAML, or pass --force for the safety limits)"
            )
        click.echo(render.render_text(result, color=_color(sys.stdout)), nl=False)
        if result.empty:
            return ExitCode.OK
        manual = len(result.changes) - len(result.automatic)
        if not result.automatic:
            click.echo(f"Nothing for selvsync to apply; {manual} manual step(s) listed above.")
            return ExitCode.OK
        if not auto_approve:
            _confirm(len(result.automatic))
        report = apply_plan(
            session, result, continue_on_error=continue_on_error, progress=_progress
        )
        click.echo(report_table(report))
        if report.interrupted:
            click.echo(
                "interrupted: the table above says what was applied; run "
                "`selvsync plan` to see what is left",
                err=True,
            )
            return ExitCode.INTERRUPTED
        after = check_after_apply(session)
        for note in twin_notes(after):
            click.echo(note, err=True)
        leftover = after.plan
    if not report.ok:
        click.echo(
            "Run `selvsync plan` to see what is left; a re-run of apply converges.", err=True
        )
        return ExitCode.PARTIAL if report.wrote_anything else ExitCode.ERROR
    if leftover.automatic or leftover.refusals(force=True):
        for reason in leftover.refusals(force=True):
            click.echo(f"after apply: {reason}", err=True)
        click.echo("After apply, live state still differs from the configuration:", err=True)
        click.echo(render.render_text(leftover, color=False), err=True, nl=False)
        return ExitCode.PARTIAL
    if manual:
        click.echo(f"Apply complete; {manual} manual step(s) in the portal remain (see above).")
    else:
        click.echo("Apply complete: live state matches the configuration.")
    return ExitCode.OK


@cli.command("rotate-secret")
@directory_option
@one_environment_option()
@click.argument("key")
def rotate_secret(directory: Path, env: str, key: str) -> int:
    """Rotate the client secret of KEY now; the new secret goes to the secret sink."""
    with _writer(directory, [env], prefetch=False) as session:
        project = session.project
        cid = rotate_secret_now(session, env, key, progress=_progress)
    sink = project.environments[env].secrets or {}
    where = f"file {sink['file']}" if "file" in sink else "the secret command"
    click.echo(
        f"{env}: rotated the secret of {key} ({cid}); the new secret went to {where}. "
        "Digdir keeps the old one working for about 30 minutes."
    )
    return ExitCode.OK


@cli.group()
def merchant() -> None:
    """Merchant data (notification e-mails, invoice details)."""


@merchant.command("confirm")
@directory_option
@one_environment_option()
@click.argument("keys", nargs=-1)
def merchant_confirm(directory: Path, env: str, keys: tuple[str, ...]) -> int:
    """Record that the declared merchant data of KEYS (default: all) was entered in the portal."""
    with _writer(directory, [env], prefetch=False) as session:
        done = confirm_merchant(session, env, keys)
    click.echo(
        f"{env}: confirmed merchant data of {', '.join(done) or 'no clients'}; the "
        "reminder returns when the YAML changes."
    )
    return ExitCode.OK


@cli.command()
@directory_option
@click.argument("key")
@click.option(
    "--out",
    "out",
    required=True,
    metavar="PATH",
    help="Where the private key goes (mode 0600, outside the project), or - for stdout.",
)
@click.option("--bits", type=int, default=3072, show_default=True, help="RSA key size.")
@click.option("--force", is_flag=True, help="Overwrite an existing private key file.")
def keygen(directory: Path, key: str, out: str, bits: int, force: bool) -> int:
    """Create a key pair for client KEY: public JWK into keys/KEY.jwks.json."""
    if out != "-":
        check_private_target(directory, Path(out), force=force)
    generated = generate(directory, key, bits=bits)
    if out == "-":
        sys.stdout.buffer.write(generated.private_pem)
        sys.stdout.flush()
    else:
        write_private(Path(out), generated.private_pem)
    click.echo(
        f"public key {generated.kid} added to {generated.public_path} "
        f"({generated.keys_in_file} key(s) in the file)"
        + ("" if out == "-" else f"; private key written to {out} (mode 0600)"),
        err=True,
    )
    click.echo(f"reference it from the client with: keys: keys/{key}.jwks.json", err=True)
    return ExitCode.OK


def _confirm(count: int) -> None:
    if not sys.stdin.isatty():
        raise UnsafePlanError(
            "no terminal to confirm on; review the plan and pass "
            "--auto-approve (or apply a saved PLANFILE) to apply without asking"
        )
    answer = click.prompt(
        f"Apply these {count} changes? Only 'yes' is accepted",
        default="",
        show_default=False,
        err=True,
    )
    if answer.strip() != "yes":
        raise click.Abort()


def _register_commands() -> None:
    from selvsync.cli.emulator import emulator_command
    from selvsync.cli.importing import import_command

    cli.add_command(emulator_command, "emulator")
    cli.add_command(import_command, "import")


_register_commands()


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
