"""Plans of a project with several organisations: grouped by organisation, then environment.

Every format starts with the summary table (organisation, environment, creates, updates,
deactivations, refusals). Each organisation's own plan is rendered by the single-organisation
renderer. Markdown stays under GitHub's comment limit at hundreds of organisations: the
unchanged ones are one line, and changed ones are cut from the end with a note when needed.
"""

from __future__ import annotations

import json
from typing import Any, Final

from selvsync.plan import document
from selvsync.plan.organisations import COLUMNS, OrgPlan, WorkspacePlan
from selvsync.render.common import clean
from selvsync.render.markdown import MARKER, _cell, render_markdown
from selvsync.render.text import render_text
from selvsync.text import escape_json

MAX_CHARS: Final = 60000
HEADINGS: Final = ("organisation", "environment", *(h for h, _ in COLUMNS), "refusals")


def _table_rows(plan: WorkspacePlan, *, changed_only: bool) -> list[list[str]]:
    rows = []
    for row in plan.rows():
        if "error" in row:
            rows.append(
                [row["organisation"], "-", "invalid configuration or failed read", "", "", ""]
            )
            continue
        cells = [str(row[h]) for h in HEADINGS]
        if changed_only and all(c == "0" for c in cells[2:]):
            continue
        rows.append(cells)
    return rows


def _unchanged(plan: WorkspacePlan) -> list[OrgPlan]:
    return [o for o in plan.organisations if o.plan is not None and not o.changed]


def render_text_workspace(plan: WorkspacePlan, *, color: bool) -> str:
    rows = [list(HEADINGS), *_table_rows(plan, changed_only=False)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADINGS))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    out.append("")
    for org in plan.organisations:
        out.append(f"=== organisation {clean(org.name)} ({org.orgno}) ===")
        if org.error is not None:
            out.append("invalid configuration (exit 3):")
            out.extend("  " + clean(line) for line in org.error.splitlines())
        elif org.failure is not None:
            out.append("could not read live state: " + clean(org.failure))
        elif org.plan is not None:
            out.append(render_text(org.plan, color=color).rstrip("\n"))
        out.append("")
    return "\n".join(out)


def render_markdown_workspace(
    plan: WorkspacePlan, *, max_chars: int = MAX_CHARS, json_hint: str | None = None
) -> str:
    head = [MARKER, "", "### selvsync plan: organisations", ""]
    head.append("| " + " | ".join(HEADINGS) + " |")
    head.append("|" + "---|" * len(HEADINGS))
    head += [
        "| " + " | ".join(_cell(c) for c in r) + " |" for r in _table_rows(plan, changed_only=True)
    ]
    unchanged = _unchanged(plan)
    if unchanged:
        names = ", ".join(o.name for o in unchanged)
        head += ["", f"No changes in {len(unchanged)} organisation(s): {_cell(names)}"]
    text = "\n".join(head) + "\n"
    blocks = []
    for org in plan.organisations:
        if org.plan is not None and not org.changed:
            continue
        if org.error is not None or org.failure is not None:
            body = "```\n" + clean(org.error or org.failure or "") + "\n```\n"
            title = f"{org.name} ({org.orgno}): **invalid or unreadable**"
        else:
            assert org.plan is not None
            inner = render_markdown(org.plan, max_chars=max_chars // 4, json_hint=json_hint)
            body = inner.replace(MARKER, "").lstrip("\n")
            title = f"{org.name} ({org.orgno})"
        blocks.append(f"\n<details><summary>{_cell(title)}</summary>\n\n{body}\n</details>\n")
    size = len(text)
    kept = 0
    for block in blocks:
        if size + len(block) + 300 > max_chars:
            break
        size += len(block)
        kept += 1
    text += "".join(blocks[:kept])
    if kept < len(blocks):
        hint = json_hint or "For the full plan, run `selvsync plan --format json`."
        text += (
            f"\n_{len(blocks) - kept} more organisation(s) with changes are not shown. {hint}_\n"
        )
    return text


def workspace_document(plan: WorkspacePlan, *, plan_file: bool = False) -> dict[str, Any]:
    """One JSON document: every change and environment names its organisation."""
    changes: list[dict[str, Any]] = []
    environments: list[dict[str, Any]] = []
    organisations: list[dict[str, Any]] = []
    total: dict[str, int] = {}
    for org in plan.organisations:
        entry: dict[str, Any] = {"name": org.name, "orgno": org.orgno}
        if org.error is not None:
            entry["error"] = org.error
        if org.failure is not None:
            entry["failure"] = org.failure
        if org.plan is not None:
            doc = document.plan_document(org.plan, plan_file=plan_file)
            entry["owner"] = org.plan.owner
            entry["summary"] = doc["summary"]
            for action, n in doc["summary"].items():
                total[action] = total.get(action, 0) + n
            changes += [{"organisation": org.name, **c} for c in doc["changes"]]
            environments += [{"organisation": org.name, **e} for e in doc["environments"]]
        organisations.append(entry)
    out: dict[str, Any] = {"kind": document.KIND} if plan_file else {}
    out |= {
        "format_version": document.FORMAT_VERSION,
        "orgno": plan.orgno,
        "owner": plan.owner,
        "organisations": organisations,
        "changes": changes,
        "summary": total,
        "environments": environments,
    }
    return out


def render_json_workspace(plan: WorkspacePlan, *, plan_file: bool = False) -> str:
    text = json.dumps(workspace_document(plan, plan_file=plan_file), indent=2, ensure_ascii=False)
    return escape_json(text) + "\n"


def render_workspace(
    plan: WorkspacePlan, fmt: str, *, color: bool = False, json_hint: str | None = None
) -> str:
    if fmt == "json":
        return render_json_workspace(plan)
    if fmt == "markdown":
        return render_markdown_workspace(plan, json_hint=json_hint)
    return render_text_workspace(plan, color=color)
