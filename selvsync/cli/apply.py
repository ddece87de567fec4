"""``selvsync apply`` and ``selvsync rotate-secret``: the commands that write to Digdir."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from selvsync.apply.after import check_after_apply
from selvsync.apply.runner import apply_plan, rotate_secret_now
from selvsync.cli import connecting
from selvsync.cli.options import (
    color,
    directory_option,
    one_environment_option,
    progress,
    project_options,
    renew_keys_option,
    workspace_mode,
)
from selvsync.cli.plan import explain_refusals, plan_options
from selvsync.errors import ExitCode, UnsafePlanError
from selvsync.live.planning import load_fresh_plan, plan_project
from selvsync.plan.changes import Plan
from selvsync.plan.results import ApplyReport
from selvsync.render.apply_report import report_table, twin_notes


@click.command()
@project_options
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
@renew_keys_option
@click.option(
    "--continue-on-error",
    is_flag=True,
    help="After a failure, carry on with the remaining independent changes.",
)
def apply(
    directory: Path,
    envs: tuple[str, ...],
    orgs: tuple[str, ...],
    planfile_path: Path | None,
    auto_approve: bool,
    force: bool,
    renew_keys: bool,
    continue_on_error: bool,
) -> int:
    """Create, update and deactivate clients so that live state matches the YAML."""
    from selvsync import render

    if workspace_mode(directory, orgs):
        from selvsync.cli import organisations

        return organisations.apply(
            directory,
            envs,
            orgs,
            planfile=planfile_path,
            auto_approve=auto_approve,
            force=force,
            renew_keys=renew_keys,
            continue_on_error=continue_on_error,
        )
    with connecting.writer(directory, envs, prefetch=planfile_path is None) as session:
        if planfile_path is not None:
            result = load_fresh_plan(session, planfile_path, time.time())
        else:
            result = plan_project(session, options=plan_options(renew_keys))
        # Refusals first: blockers (e.g. two clients with one marker) refuse even a plan
        # without changes, exactly as `plan` does.
        if explain_refusals(result, force=force):
            click.echo(render.render_text(result, color=color(sys.stdout)), nl=False)
            raise UnsafePlanError(
                "the plan is unsafe; nothing was applied "
                "(fix the YAML, or pass --force for the safety limits)"
            )
        click.echo(render.render_text(result, color=color(sys.stdout)), nl=False)
        if result.empty:
            return ExitCode.OK
        manual = len(result.changes) - len(result.automatic)
        if not result.automatic:
            click.echo(f"Nothing for selvsync to apply; {manual} manual step(s) listed above.")
            return ExitCode.OK
        if not auto_approve:
            _confirm(len(result.automatic))
        report = apply_plan(
            session, result, continue_on_error=continue_on_error, progress=progress
        )
        click.echo(report_table(report))
        if report.interrupted:
            click.echo(
                "interrupted: the table above says what was applied; run "
                "`selvsync plan` to see what is left",
                err=True,
            )
            return ExitCode.INTERRUPTED
        after = check_after_apply(session, progress=progress)
        for note in twin_notes(after):
            progress(note)
        leftover = after.plan
    code = _conclude(report, leftover, manual)
    for late in after.unsettled:
        click.echo(late.message(), err=True)
    if after.unsettled and code == ExitCode.OK:
        return ExitCode.PARTIAL
    return code


def _conclude(report: ApplyReport, leftover: Plan, manual: int) -> int:
    """The last word of an apply: what the check after it found, as an exit code."""
    from selvsync import render

    if not report.ok:
        click.echo(
            "Run `selvsync plan` to see what is left; a re-run of apply converges.", err=True
        )
        return ExitCode.PARTIAL if report.wrote_anything else ExitCode.ERROR
    if leftover.automatic or leftover.refusals(force=True):
        for reason in leftover.refusals(force=True):
            progress(f"after apply: {reason}")
        click.echo("After apply, live state still differs from the configuration:", err=True)
        click.echo(render.render_text(leftover, color=False), err=True, nl=False)
        return ExitCode.PARTIAL
    if manual:
        click.echo(f"Apply complete; {manual} manual step(s) in the portal remain (see above).")
    else:
        click.echo("Apply complete: live state matches the configuration.")
    return ExitCode.OK


@click.command()
@directory_option
@one_environment_option()
@click.argument("key")
def rotate_secret(directory: Path, env: str, key: str) -> int:
    """Rotate the client secret of KEY now; the new secret goes to the secret sink."""
    with connecting.writer(directory, [env], prefetch=False) as session:
        project = session.project
        cid = rotate_secret_now(session, env, key, progress=progress)
    sink = project.environments[env].secrets or {}
    where = f"file {sink['file']}" if "file" in sink else "the secret command"
    click.echo(
        f"{env}: rotated the secret of {key} ({cid}); the new secret went to {where}. "
        "Digdir keeps the old one working for about 30 minutes."
    )
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
