"""``selvsync plan``: read live state and print what apply would change."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from selvsync.cli import connecting
from selvsync.cli.options import (
    color,
    progress,
    project_options,
    renew_keys_option,
    workspace_mode,
)
from selvsync.errors import ExitCode, UsageError
from selvsync.live import planfile
from selvsync.live.planning import plan_project
from selvsync.plan.changes import Plan, PlanOptions
from selvsync.render import FORMATS, render
from selvsync.render.github_summary import write_step_summary

JSON_HINT = "Run `selvsync plan --format json` for the full plan."


def render_plan(plan: Plan, fmt: str, use_color: bool) -> str:
    return render(plan, fmt, color=use_color, json_hint=JSON_HINT)


def plan_options(renew_keys: bool) -> PlanOptions:
    return PlanOptions(now=time.time(), renew_keys=renew_keys)


def explain_refusals(plan: Plan, force: bool) -> list[str]:
    reasons = plan.refusals(force=force)
    for reason in reasons:
        progress(f"refused: {reason}")
    return reasons


def _step_summary(result: Plan, markdown: str | None) -> None:
    """In GitHub Actions, also put the plan on the job's summary page."""
    if not os.environ.get("GITHUB_STEP_SUMMARY"):
        return
    text = markdown if markdown is not None else render(result, "markdown", json_hint=JSON_HINT)
    if not write_step_summary(text, os.environ):
        progress("warning: could not write the plan to GITHUB_STEP_SUMMARY")


@click.command()
@project_options
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
@renew_keys_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when there are changes, 0 when there are none.",
)
def plan(
    directory: Path,
    envs: tuple[str, ...],
    orgs: tuple[str, ...],
    fmt: str,
    out: Path | None,
    renew_keys: bool,
    detailed_exitcode: bool,
) -> int:
    """Read live state and print what apply would change."""
    if out is not None and not out.expanduser().parent.is_dir():
        raise UsageError(
            f"--out {out}: the folder {out.expanduser().parent} does not exist; create it "
            "first or choose another path (nothing was read)"
        )
    if workspace_mode(directory, orgs):
        from selvsync.cli import organisations

        return organisations.plan(directory, envs, orgs, fmt, out, renew_keys, detailed_exitcode)
    with connecting.reader(directory, envs) as session:
        result = plan_project(session, options=plan_options(renew_keys))
    rendered = render_plan(result, fmt, color(sys.stdout))
    click.echo(rendered, nl=False)
    _step_summary(result, rendered if fmt == "markdown" else None)
    if out is not None:
        planfile.write(result, out.expanduser())
        progress(f"plan written to {out}")
    if explain_refusals(result, force=False):
        progress("apply would refuse this plan (exit 4); see above")
        return ExitCode.REFUSED
    if detailed_exitcode and not result.empty:
        return ExitCode.CHANGES
    return ExitCode.OK
