"""validate, show, plan and apply for a project with `organisations:` (docs/organisations.md).

Each organisation runs through the single-organisation engine in its own session; this
module only groups the results and turns them into one exit code:

* a configuration error in one organisation: the others are still planned, and the command
  exits 3 at the end, naming that organisation's file:line;
* a refusal in one organisation: exit 4 (apply applies nothing, in no organisation);
* a failure while applying one organisation: the others still apply, and the command exits 5
  with a per-organisation report.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from selvsync.apply.after import check_after_apply
from selvsync.apply.runner import apply_plan
from selvsync.cli import connecting
from selvsync.cli.options import color, confirm_apply, effective_clients, progress
from selvsync.config.organisations import load_workspace
from selvsync.errors import ExitCode, SelvsyncError, UnsafePlanError
from selvsync.live.organisations import WorkspaceRun, plan_workspace
from selvsync.plan.changes import PlanOptions
from selvsync.plan.organisations import WorkspacePlan
from selvsync.plan.safety import Overrides, apply_overrides
from selvsync.render.apply_report import report_table
from selvsync.render.organisations import render_json_workspace, render_workspace
from selvsync.yaml import dump

JSON_HINT = "Run `selvsync plan --format json` for the full plan."


def _config_errors(ws_errors: dict[str, Any]) -> int:
    for name, exc in ws_errors.items():
        click.echo(f"organisation {name}:\n{exc.render()}", err=True)
    return ExitCode.CONFIG if ws_errors else ExitCode.OK


def validate(directory: Path, envs: tuple[str, ...], orgs: tuple[str, ...]) -> int:
    ws = load_workspace(directory, list(envs) or None, list(orgs) or None)
    for name in ws.selected:
        project = ws.projects.get(name)
        if project is None:
            continue
        parts = [f"{e} ({len(s.clients)} clients)" for e, s in project.states.items()]
        click.echo(f"valid: {name} ({project.orgno}): " + ", ".join(parts))
    return _config_errors(ws.errors)


def show(directory: Path, envs: tuple[str, ...], orgs: tuple[str, ...]) -> int:
    ws = load_workspace(directory, list(envs) or None, list(orgs) or None)
    out: dict[str, Any] = {}
    for name in ws.selected:
        project = ws.projects.get(name)
        if project is None:
            continue
        per_env: dict[str, Any] = {}
        for env, state in project.states.items():
            clients = effective_clients(state)
            per_env[env] = {
                "api": state.environment.api,
                "files": state.files,
                "clients": clients,
            }
        out[name] = {"orgno": project.orgno, "environments": per_env}
    click.echo(dump(out), nl=False)
    return _config_errors(ws.errors)


def _run(
    directory: Path, envs: tuple[str, ...], orgs: tuple[str, ...], command: str
) -> WorkspaceRun:
    ws = load_workspace(directory, list(envs) or None, list(orgs) or None)
    return WorkspaceRun(ws, connecting.default_factory, command)


def _lift(result: WorkspacePlan, overrides: Overrides) -> None:
    """The override flags, per organisation: each names what it lifted on stderr."""
    for org in result.organisations:
        if org.plan is not None:
            for line in apply_overrides(org.plan, overrides):
                progress(f"override: {org.name}/{line}")


def _exit(result: WorkspacePlan, *, detailed: bool) -> int:
    errors = {o.name: o.error for o in result.organisations if o.error is not None}
    failures = [o for o in result.organisations if o.failure is not None]
    for org in failures:
        progress(f"organisation {org.name}: could not plan: {org.failure}")
    for reason in result.refusals():
        progress(f"refused: {reason}")
    if errors:
        for name, text in errors.items():
            click.echo(f"organisation {name}:\n{text}", err=True)
        return ExitCode.CONFIG
    if failures:
        return ExitCode.ERROR
    if result.refusals():
        return ExitCode.REFUSED
    if detailed and not result.empty:
        return ExitCode.CHANGES
    return ExitCode.OK


def plan(
    directory: Path,
    envs: tuple[str, ...],
    orgs: tuple[str, ...],
    fmt: str,
    out: Path | None,
    renew_keys: bool,
    detailed_exitcode: bool,
    overrides: Overrides,
    *,
    refresh: bool = False,
) -> int:
    run = _run(directory, envs, orgs, "plan")
    options = PlanOptions(now=time.time(), renew_keys=renew_keys, refresh=refresh)
    try:
        result = plan_workspace(run, options)
    finally:
        run.close()
    _lift(result, overrides)
    click.echo(
        render_workspace(result, fmt, color=color(sys.stdout), json_hint=JSON_HINT), nl=False
    )
    if out is not None:
        from selvsync.files import atomic_write

        atomic_write(out, render_json_workspace(result, plan_file=True))
        progress(f"plan written to {out}")
    return _exit(result, detailed=detailed_exitcode)


def apply(
    directory: Path,
    envs: tuple[str, ...],
    orgs: tuple[str, ...],
    *,
    planfile: Path | None,
    auto_approve: bool,
    overrides: Overrides,
    renew_keys: bool,
    continue_on_error: bool,
    refresh: bool = False,
) -> int:
    if planfile is not None:
        raise UnsafePlanError(
            "apply PLANFILE is not supported yet for a project with `organisations:`; "
            "run `selvsync apply` (it plans and applies in one run)"
        )
    run = _run(directory, envs, orgs, "apply")
    try:
        with connecting.apply_lock(directory, on_wait=progress):
            return _apply(run, auto_approve, overrides, renew_keys, continue_on_error, refresh)
    finally:
        run.close()


def _apply(
    run: WorkspaceRun,
    auto_approve: bool,
    overrides: Overrides,
    renew_keys: bool,
    continue_on_error: bool,
    refresh: bool = False,
) -> int:
    options = PlanOptions(now=time.time(), renew_keys=renew_keys, refresh=refresh)
    result = plan_workspace(run, options)
    _lift(result, overrides)
    click.echo(render_workspace(result, "text", color=color(sys.stdout)), nl=False)
    code = _exit(result, detailed=False)
    if code != ExitCode.OK:
        if code == ExitCode.REFUSED:
            raise UnsafePlanError(
                "the plan is unsafe; nothing was applied in any organisation "
                "(fix the YAML, or pass the override named with each refusal)"
            )
        return code
    todo = [o for o in result.organisations if o.plan is not None and o.plan.automatic]
    if not todo:
        click.echo("Nothing to apply.")
        return ExitCode.OK
    if not auto_approve:
        count = sum(len(o.plan.automatic) for o in todo if o.plan is not None)
        if not confirm_apply(count, "--auto-approve"):
            click.echo("Apply cancelled; nothing changed.", err=True)
            return ExitCode.REFUSED
    failed: dict[str, str] = {}
    for org in todo:
        assert org.plan is not None
        session = run.session(org.name)
        try:
            report = apply_plan(
                session, org.plan, continue_on_error=continue_on_error, progress=progress
            )
        except SelvsyncError as exc:
            failed[org.name] = str(exc)
            continue
        click.echo(f"=== organisation {org.name} ===")
        click.echo(report_table(report))
        if not report.ok:
            failed[org.name] = "some changes failed or were not attempted (see above)"
    run.refresh()
    leftover: dict[str, int] = {}
    for org in todo:
        if org.name in failed:
            continue
        after = check_after_apply(run.session(org.name))
        if after.plan.automatic or after.plan.refusals(force=True):
            leftover[org.name] = len(after.plan.automatic)
    click.echo("")
    click.echo("organisation  result")
    for org in result.organisations:
        if org.name in failed:
            status = "FAILED: " + failed[org.name]
        elif org.name in leftover:
            status = f"applied; {leftover[org.name]} change(s) still differ"
        elif org in todo:
            status = "applied"
        else:
            status = "no changes"
        click.echo(f"{org.name}  {status}")
    if failed or leftover:
        return ExitCode.PARTIAL
    click.echo("Apply complete: live state matches the configuration in every organisation.")
    return ExitCode.OK
