"""What an apply did, as text: the outcome table, and notes about applies that raced it."""

from __future__ import annotations

from selvsync.plan.results import AfterApply, ApplyReport, Status


def report_table(report: ApplyReport) -> str:
    rows = [("environment", "key", "action", "result", "client_id")]
    for outcome in report.outcomes:
        change = outcome.change
        rows.append(
            (
                change.environment,
                change.key + (f" -> {change.consumer}" if change.consumer else "")
                + (f" onbehalfof {change.entry}" if change.entry is not None else ""),
                str(change.action),
                str(outcome.status),
                outcome.client_id or change.client_id or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    for outcome in report.outcomes:
        if outcome.status == Status.FAILED:
            lines.append(
                f"failed: {outcome.change.environment}/{outcome.change.key}: {outcome.message}"
            )
        elif outcome.status == Status.NOT_ATTEMPTED and outcome.message.startswith("kept:"):
            # A deactivation held back because its successor is not complete: say why.
            lines.append(f"{outcome.change.environment}/{outcome.change.key}: {outcome.message}")
    lines.append(
        f"{report.count(Status.APPLIED)} applied, {report.count(Status.FAILED)} failed, "
        f"{report.count(Status.NOT_ATTEMPTED)} not attempted"
        + (f", {report.count(Status.MANUAL)} manual" if report.count(Status.MANUAL) else "")
    )
    return "\n".join(lines)


def twin_notes(after: AfterApply) -> list[str]:
    """One line per client that applies running at the same time created twice
    (selvsync.plan.races): what this run deactivated, and what is left to another run or a
    person."""
    notes = [
        f"{done.environment}: '{done.key}' was also created by another apply running at the "
        f"same time; kept {done.kept} (created first) and deactivated this run's {done.retired}"
        for done in after.retired
    ]
    for env, twins in after.twins:
        others = ", ".join(c for c in twins.others if c not in twins.retire)
        if twins.has_secret:
            notes.append(
                f"{env}: '{twins.key}' was created by more than one apply at the same time "
                f"({twins.kept}, {others}) and has a secret: keep {twins.kept}, deactivate the "
                "others in the portal, then run `selvsync rotate-secret` for it so the secret "
                "sink holds the kept client's secret"
            )
        else:
            notes.append(
                f"{env}: '{twins.key}': another apply created {others} at the same time as "
                f"{twins.kept}; that run deactivates its own twin when it finishes. Run "
                "`selvsync plan` to confirm."
            )
    return notes
