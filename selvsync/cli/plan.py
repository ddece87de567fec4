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
    override_options,
    progress,
    project_options,
    refresh_option,
    renew_keys_option,
    workspace_mode,
)
from selvsync.errors import ExitCode, UsageError
from selvsync.live import planfile
from selvsync.live.planning import plan_project
from selvsync.plan.changes import Plan, PlanOptions
from selvsync.plan.document import changes_digest
from selvsync.plan.safety import Overrides, apply_overrides, unused_allow_deactivate
from selvsync.render import FORMATS, render
from selvsync.render.github_summary import write_step_summary

JSON_HINT = "Run `selvsync plan --format json` for the full plan."


def render_plan(plan: Plan, fmt: str, use_color: bool) -> str:
    return render(plan, fmt, color=use_color, json_hint=JSON_HINT)


def plan_options(
    renew_keys: bool, *, refresh: bool = False, fingerprints: bool = True
) -> PlanOptions:
    """``fingerprints``: only a plan that is written to a file needs them."""
    return PlanOptions(
        now=time.time(), renew_keys=renew_keys, refresh=refresh, fingerprints=fingerprints
    )


def overrides_from(
    *,
    force: bool = False,
    allow_empty_listing: bool = False,
    allow_over_limit: bool = False,
    allow_deactivate: tuple[str, ...] = (),
) -> Overrides:
    return Overrides(
        force=force,
        allow_empty_listing=allow_empty_listing,
        allow_over_limit=allow_over_limit,
        allow_deactivate=frozenset(allow_deactivate),
    )


def use_overrides(plan: Plan, overrides: Overrides) -> None:
    """Lift what the flags lift; say so on stderr (the rendered plan shows it too)."""
    for line in apply_overrides(plan, overrides):
        click.echo(f"override: {line}", err=True)
    for key in unused_allow_deactivate(plan, overrides):
        click.echo(
            f"warning: --allow-deactivate {key}: no protected client '{key}' is deactivated "
            "or replaced by this plan",
            err=True,
        )


def explain_refusals(plan: Plan) -> list[str]:
    reasons = plan.refusals()
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
@refresh_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when there are changes or maintenance (expiring keys, pending key "
    "removals, lost secrets), 0 when there are none.",
)
@override_options
def plan(
    directory: Path,
    envs: tuple[str, ...],
    orgs: tuple[str, ...],
    fmt: str,
    out: Path | None,
    renew_keys: bool,
    refresh: bool,
    detailed_exitcode: bool,
    allow_empty_listing: bool,
    allow_deactivate: tuple[str, ...],
    allow_over_limit: bool,
) -> int:
    """Read live state and print what apply would change.

    The override flags show the plan as `apply` with the same flags would see it."""
    if out is not None and not out.expanduser().parent.is_dir():
        raise UsageError(
            f"--out {out}: the folder {out.expanduser().parent} does not exist; create it "
            "first or choose another path (nothing was read)"
        )
    if workspace_mode(directory, orgs):
        from selvsync.cli import organisations

        overrides = overrides_from(
            allow_empty_listing=allow_empty_listing,
            allow_over_limit=allow_over_limit,
            allow_deactivate=allow_deactivate,
        )
        return organisations.plan(
            directory, envs, orgs, fmt, out, renew_keys, detailed_exitcode, overrides,
            refresh=refresh,
        )
    with connecting.reader(directory, envs) as session:
        options = plan_options(renew_keys, refresh=refresh, fingerprints=out is not None)
        result = plan_project(session, options=options)
    use_overrides(
        result,
        overrides_from(
            allow_empty_listing=allow_empty_listing,
            allow_over_limit=allow_over_limit,
            allow_deactivate=allow_deactivate,
        ),
    )
    rendered = render_plan(result, fmt, color(sys.stdout))
    click.echo(rendered, nl=False)
    _step_summary(result, rendered if fmt == "markdown" else None)
    if out is not None:
        planfile.write(result, out.expanduser())
        progress(f"plan written to {out}")
        for env in result.environments:
            if env.changes:
                progress(f"{env.name}: changes digest {changes_digest(env)}")
    if explain_refusals(result):
        progress("apply would refuse this plan (exit 4); see above")
        return ExitCode.REFUSED
    if detailed_exitcode and result.drift:
        return ExitCode.CHANGES
    return ExitCode.OK
