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
    confirm_apply,
    directory_option,
    one_environment_option,
    override_options,
    progress,
    project_options,
    refresh_option,
    renew_keys_option,
    verbosity,
    workspace_mode,
)
from selvsync.cli.plan import explain_refusals, overrides_from, plan_options, use_overrides
from selvsync.cli.progress import ApplyProgress
from selvsync.errors import ExitCode, UnsafePlanError
from selvsync.live import planfile
from selvsync.live.planning import load_fresh_plan, plan_project
from selvsync.plan.changes import Plan
from selvsync.plan.document import changes_digest
from selvsync.plan.results import ApplyReport
from selvsync.plan.review import compare_with_digest, compare_with_reviewed
from selvsync.plan.safety import Overrides
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
    help="Lift every safety refusal (prefer the narrow --allow-* flags).",
)
@override_options
@click.option(
    "--reviewed",
    "reviewed_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    metavar="PLANFILE",
    help="Plan afresh, and apply only if each environment's changes equal this reviewed "
    "plan file's (main may have moved since).",
)
@click.option(
    "--expect-digest",
    "expect_digest",
    multiple=True,
    metavar="[ENV=]DIGEST",
    help="Plan afresh, and apply only if the changes digest is this one (repeatable).",
)
@renew_keys_option
@refresh_option
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
    allow_empty_listing: bool,
    allow_deactivate: tuple[str, ...],
    allow_over_limit: bool,
    reviewed_path: Path | None,
    expect_digest: tuple[str, ...],
    renew_keys: bool,
    refresh: bool,
    continue_on_error: bool,
) -> int:
    """Create, update and deactivate clients so that live state matches the YAML."""
    if planfile_path is not None and (reviewed_path is not None or expect_digest):
        raise click.UsageError("PLANFILE cannot be combined with --reviewed or --expect-digest")
    overrides = overrides_from(
        force=force,
        allow_empty_listing=allow_empty_listing,
        allow_over_limit=allow_over_limit,
        allow_deactivate=allow_deactivate,
    )
    if workspace_mode(directory, orgs):
        return _apply_organisations(
            directory, envs, orgs, planfile_path, reviewed_path, expect_digest,
            auto_approve, overrides, renew_keys, continue_on_error, refresh,
        )  # fmt: skip
    reviewed = planfile.read(reviewed_path) if reviewed_path is not None else None
    with connecting.writer(directory, envs, prefetch=planfile_path is None) as session:
        # 1. The plan: from a plan file (re-derived) or afresh; the overrides lifted.
        if planfile_path is not None:
            result = load_fresh_plan(session, planfile_path, time.time(), refresh=refresh)
        else:
            options = plan_options(renew_keys, refresh=refresh, fingerprints=False)
            result = plan_project(session, options=options)
        use_overrides(result, overrides)
        # 2. Refusals, the reviewed digest and the confirmation: nothing written yet.
        proceed = _ready(result, reviewed, expect_digest, auto_approve)
        if proceed is not None:
            return proceed
        manual = len(result.changes) - len(result.automatic)
        # 3. The writes, with progress.
        watcher = ApplyProgress(
            result.changes, progress, verbose=verbosity(), terminal=sys.stderr.isatty()
        )
        report = apply_plan(
            session, result, continue_on_error=continue_on_error, progress=watcher
        )
        click.echo(report_table(report))
        if report.interrupted:
            click.echo(
                "interrupted: the table above says what was applied; run "
                "`selvsync plan` to see what is left",
                err=True,
            )
            return ExitCode.INTERRUPTED
        # 4. The check after apply (waiting for the listing to show the writes).
        after = check_after_apply(session, progress=progress)
        for note in twin_notes(after):
            progress(note)
    code = _conclude(report, after.plan, manual)
    for late in after.unsettled:
        click.echo(late.message(), err=True)
    if after.unsettled and code == ExitCode.OK:
        return ExitCode.PARTIAL
    return code


def _ready(
    result: Plan, reviewed: Plan | None, expect_digest: tuple[str, ...], auto_approve: bool
) -> int | None:
    """None when the plan may be applied; otherwise the exit code to stop with (or raise)."""
    from selvsync import render

    # Blockers (e.g. two clients with one marker) refuse even a plan without changes,
    # exactly as `plan` does.
    if explain_refusals(result):
        click.echo(render.render_text(result, color=color(sys.stdout)), nl=False)
        raise UnsafePlanError(
            "the plan is unsafe; nothing was applied (fix the YAML, or pass the "
            "override named with each refusal)"
        )
    click.echo(render.render_text(result, color=color(sys.stdout)), nl=False)
    check_reviewed(result, reviewed, expect_digest)
    if result.empty:
        return ExitCode.OK
    manual = len(result.changes) - len(result.automatic)
    if not result.automatic:
        click.echo(f"Nothing for selvsync to apply; {manual} manual step(s) listed above.")
        return ExitCode.OK
    if not auto_approve and not confirm_apply(
        len(result.automatic), "--auto-approve (or apply a saved PLANFILE)"
    ):
        click.echo("Apply cancelled; nothing changed.", err=True)
        return ExitCode.REFUSED
    return None


def _apply_organisations(
    directory: Path,
    envs: tuple[str, ...],
    orgs: tuple[str, ...],
    planfile_path: Path | None,
    reviewed_path: Path | None,
    expect_digest: tuple[str, ...],
    auto_approve: bool,
    overrides: Overrides,
    renew_keys: bool,
    continue_on_error: bool,
    refresh: bool = False,
) -> int:
    from selvsync.cli import organisations

    if reviewed_path is not None or expect_digest:
        raise click.UsageError(
            "--reviewed and --expect-digest are not supported yet for projects with "
            "organisations; see docs/organisations.md"
        )
    return organisations.apply(
        directory,
        envs,
        orgs,
        planfile=planfile_path,
        auto_approve=auto_approve,
        overrides=overrides,
        renew_keys=renew_keys,
        continue_on_error=continue_on_error,
        refresh=refresh,
    )


def check_reviewed(result: Plan, reviewed: Plan | None, expected: tuple[str, ...]) -> None:
    """Refuse (exit 4, nothing applied) unless the changes are the ones reviewed."""
    if reviewed is None and not expected:
        return
    try:
        mismatches = (
            compare_with_reviewed(result, reviewed)
            if reviewed is not None
            else compare_with_digest(result, expected)
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if not mismatches:
        for env in result.environments:
            if env.changes:
                progress(f"{env.name}: changes match the reviewed plan ({changes_digest(env)})")
        return
    for m in mismatches:
        click.echo(
            f"{m.environment}: the changes differ from the reviewed plan "
            f"(reviewed {m.reviewed or 'nothing'}, now {m.current}):",
            err=True,
        )
        for line in m.lines:
            click.echo(line, err=True)
    raise UnsafePlanError(
        "the plan differs from the reviewed one; nothing was applied. Review the plan above "
        "(e.g. in a new pull request), then apply it"
    )


def _conclude(report: ApplyReport, leftover: Plan, manual: int) -> int:
    """The last word of an apply: what the check after it found, as an exit code."""
    from selvsync import render

    if not report.ok:
        click.echo(
            "Run `selvsync plan` to see what is left. Fix the cause named in the table "
            "above, then apply again; a lost client secret stays marked in Digdir and is "
            "rotated by the next apply.",
            err=True,
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
