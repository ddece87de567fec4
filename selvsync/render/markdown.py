"""The plan as a pull-request comment (GitHub-flavoured Markdown).

Order: a hidden marker (so CI can find and update its own comment instead of adding one per
push), the summary tables, problems and destructive changes as alerts, then one collapsible
``<details>`` block per changed client with a ``diff`` code block. Clients without changes
are not listed.

A comment has a size limit (GitHub: 65,536 characters). The summary is never cut; when the
whole comment would not fit, details blocks are dropped from the end and a note says how many
and where the full plan is. Messages are capped per list for the same reason.
"""

from __future__ import annotations

import html
import re
from typing import Final

from selvsync.plan.actions import ACTIONS, Action, render_order
from selvsync.plan.changes import Change, EnvironmentPlan, Plan
from selvsync.plan.document import changes_digest, field_values
from selvsync.render.common import (
    FORCES_REPLACEMENT,
    IRREVERSIBLE,
    LIVE_ORDER,
    NO_CHANGES,
    clean,
    destructive_counts,
    forces_replacement,
    format_value,
    is_list_change,
    list_delta,
    others_phrases,
    shows_keys,
)

MARKER: Final = "<!-- selvsync-plan -->"
DEFAULT_MAX_CHARS: Final = 60000
# Messages shown per list (blockers, refusals, warnings of one environment) before "N more".
# Tried in turn until the summary fits: a thousand refusals must not crowd out the table.
_MESSAGE_CAPS: Final = (20, 5, 1, 0)
_DEFAULT_HINT: Final = "For the full plan, run `selvsync plan --format json`."


def _text(value: str) -> str:
    """Free text (warnings, notes, keys) for Markdown: no raw HTML, no control characters.

    Backticks stay: plan messages quote YAML settings as `code`, which should render."""
    return html.escape(clean(value), quote=False)


def _cell(value: str) -> str:
    return _text(value).replace("|", "\\|")


def _status(env: EnvironmentPlan) -> str:
    if env.blockers:
        return "**blocked**"
    if env.refusals:
        return "**refused**"
    return "changes" if env.changes else "no changes"


def _count_cell(action: Action, n: int) -> str:
    # Bold destructive counts: the first columns, and the ones a reviewer must not misread.
    return f"**{n}**" if n and ACTIONS[action].destructive else str(n)


def _summary_table(plan: Plan) -> list[str]:
    totals = plan.summary()
    # Scope columns only for plans that change scopes: a clients-only plan reads as before.
    order = [a for a in render_order() if not ACTIONS[a].optional_column or totals[str(a)]]
    titles = [ACTIONS[a].title for a in order]
    lines = [
        "| Environment | " + " | ".join(titles) + " | Status |",
        "| :-- | " + " | ".join("--:" for _ in titles) + " | :-- |",
    ]
    for env in plan.environments:
        summary = env.summary()
        cells = [_count_cell(a, summary[str(a)]) for a in order]
        lines.append(f"| {_cell(env.name)} | " + " | ".join(cells) + f" | {_status(env)} |")
    if len(plan.environments) > 1:
        total = plan.summary()
        cells = [_count_cell(a, total[str(a)]) for a in order]
        lines.append("| **Total** | " + " | ".join(cells) + " | |")
    return lines


def _live_table(plan: Plan) -> list[str]:
    envs = [e for e in plan.environments if e.counts]
    if not envs:
        return []
    seen = {name for e in envs for name in e.counts}
    names = [n for n in LIVE_ORDER if n in seen] + sorted(seen - set(LIVE_ORDER))
    lines = [
        "| Live clients | " + " | ".join(_cell(n) for n in names) + " |",
        "| :-- | " + " | ".join("--:" for _ in names) + " |",
    ]
    for env in envs:
        cells = [str(env.counts.get(n, 0)) for n in names]
        lines.append(f"| {_cell(env.name)} | " + " | ".join(cells) + " |")
    return ["", *lines]


def _others_lines(plan: Plan) -> list[str]:
    """The unmarked and foreign clients, named: selvsync never writes them."""
    lines: list[str] = []
    for env in plan.environments:
        others = others_phrases(env)
        if others:
            lines += ["", f"Not managed here in {_text(env.name)} (never written):", ""]
            lines += [f"- {_text(o)}" for o in others]
    return lines


def _alert(kind: str, title: str, items: list[str], cap: int) -> list[str]:
    shown = items[:cap]
    lines = ["", f"> [!{kind}]", f"> {title}"]
    lines += [f"> - {_text(item)}" for item in shown]
    if len(items) > len(shown):
        lines.append(f"> - … and {len(items) - len(shown)} more (see the JSON plan)")
    return lines


def _head(plan: Plan, cap: int) -> str:
    lines = [
        MARKER,
        "## selvsync plan",
        "",
        f"Organisation `{_text(plan.orgno)}`, owner `{_text(plan.owner)}`.",
        "",
        *_summary_table(plan),
        *_live_table(plan),
        *_others_lines(plan),
    ]
    destructive = [(e.name, destructive_counts(e)) for e in plan.environments]
    destructive = [(name, counts) for name, counts in destructive if counts]
    if destructive:
        items = [f"{name}: {', '.join(counts)}" for name, counts in destructive]
        lines += _alert("CAUTION", f"**Destructive changes**: {IRREVERSIBLE}.", items,
                        len(items))
    for env in plan.environments:
        name = _text(env.name)
        if env.blockers:
            lines += _alert("CAUTION", f"**Blocked in {name}** (fix the configuration; "
                            "`--force` does not override):", env.blockers, cap)
        if env.refusals:
            lines += _alert("CAUTION", f"**Refused in {name}** (apply exits 4 unless "
                            "overridden):", env.refusals, cap)
        if env.overridden:
            lines += _alert("WARNING", f"**Overridden in {name}** (refused, but lifted for "
                            "this run):", env.overridden, cap)
        if env.warnings:
            lines += _alert("WARNING", f"**Warnings in {name}**:", env.warnings, cap)
        upkeep = [m for m in env.maintenance if m not in env.warnings]  # not shown twice
        if upkeep:
            lines += _alert("NOTE", f"**Maintenance in {name}** (needs a later apply; "
                            "counts as drift):", upkeep, cap)
    digests = [(e.name, changes_digest(e)) for e in plan.environments if e.changes]
    if digests:
        lines += ["", "Changes digest (what `apply --reviewed` compares): "
                  + ", ".join(f"{_text(n)} `{d[len('sha256:'):][:16]}`" for n, d in digests)]
    if plan.empty:
        lines += ["", NO_CHANGES]
    return "\n".join(lines) + "\n"


def _diff_lines(change: Change) -> list[str]:
    lines: list[str] = []
    for fc in change.fields:
        before, after = field_values(fc)
        name = clean(fc.field)
        if change.action in (Action.CREATE, Action.SCOPE_CREATE, Action.ONBEHALFOF_CREATE):
            if is_list_change(None, after):
                lines.append(f"+ {name}:")
                lines += [f"+   {format_value(v)}" for v in after or []]
            else:
                lines.append(f"+ {name}: {format_value(after)}")
        elif is_list_change(before, after):
            removed, added, same = list_delta(before, after)
            note = f" ({same} unchanged)" if same else ""
            lines.append(f"  {name}:{note if removed or added else ' (order changed)'}")
            lines += [f"-   {format_value(v)}" for v in removed]
            lines += [f"+   {format_value(v)}" for v in added]
        else:
            # Classic two-line diff: GitHub colours the old value red and the new one green.
            if before is not None:
                lines.append(f"- {name}: {format_value(before)}")
            if after is not None:
                tail = f"  # {FORCES_REPLACEMENT}" if forces_replacement(change, fc) else ""
                lines.append(f"+ {name}: {format_value(after)}{tail}")
    if shows_keys(change):
        new = ACTIONS[change.action].new_client
        lines.append("+ keys (kid):" if new else "  keys (kid):")
        lines += [f"-   {format_value(k)}" for k in change.keys_removed]
        lines += [f"+   {format_value(k)}" for k in change.keys_added]
    lines += [f"# {clean(n)}" for n in change.notes]
    return lines or ["# no field changes"]


def _fence(lines: list[str]) -> str:
    # Longer than any backtick run inside, so a value cannot close the block early.
    longest = max((len(m) for line in lines for m in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _details(change: Change) -> str:
    action = "manual" if change.manual else str(change.action)
    summary = (f"<code>{html.escape(ACTIONS[change.action].symbol)}</code> "
               f"<b>{action}</b> <code>{html.escape(clean(change.key))}</code>")
    if change.renamed_from:
        summary += f" renamed from <code>{html.escape(clean(change.renamed_from))}</code>"
    if change.consumer is not None:
        who = clean(f"{change.consumer_name} ({change.consumer})" if change.consumer_name
                    else change.consumer)
        summary += f" consumer <code>{html.escape(who)}</code>"
    if change.entry is not None:
        summary += f" onbehalfof <code>{html.escape(clean(change.entry))}</code>"
    if change.client_id:
        summary += f" client_id <code>{html.escape(clean(change.client_id))}</code>"
    if change.destructive:
        summary += " <b>DESTRUCTIVE</b>"
    if change.protected:
        summary += " (protected)"
    body = _diff_lines(change)
    fence = _fence(body)
    # Destructive blocks start open: approving a deactivation must not need a click to see it.
    opened = " open" if change.destructive else ""
    return (f"\n<details{opened}><summary>{summary}</summary>\n\n{fence}diff\n"
            + "\n".join(body) + f"\n{fence}\n\n</details>\n")


def _blocks(plan: Plan) -> list[str]:
    """One string per changed client, each starting with the blank line that separates it
    from what comes before. An environment's heading rides on its first block, so that
    cutting blocks from the end never leaves a heading with nothing under it."""
    blocks: list[str] = []
    for env in plan.environments:
        heading = f"\n### Changes in {_text(env.name)}\n"
        for i, change in enumerate(env.ordered()):
            blocks.append((heading if i == 0 else "") + _details(change))
    return blocks


def _note(cut: int, total: int, json_hint: str | None) -> str:
    return ("\n> [!NOTE]\n"
            f"> **The details of {cut} of {total} changes were cut** to fit the comment size "
            f"limit. {json_hint or _DEFAULT_HINT}\n")


def render_markdown(plan: Plan, *, max_chars: int = DEFAULT_MAX_CHARS,
                    json_hint: str | None = None) -> str:
    """The plan as a PR comment of at most ``max_chars`` characters.

    ``json_hint`` is a Markdown sentence that the truncation note ends with, pointing to the
    full JSON plan (e.g. "The full plan is in the [plan.json](URL) artifact."). Only if the
    summary alone is longer than ``max_chars`` (thousands of environments) is the result
    longer: the summary is never cut.
    """
    blocks = _blocks(plan)
    head = _head(plan, _MESSAGE_CAPS[0])
    full = sum(len(b) for b in blocks)
    if len(head) + full <= max_chars:
        return head + "".join(blocks)
    total = len(blocks)
    for cap in _MESSAGE_CAPS:
        head = _head(plan, cap)
        size = len(head) + full
        # Drop blocks from the end until the kept ones plus the note fit.
        for kept in range(total, -1, -1):
            note = _note(total - kept, total, json_hint)
            if size + len(note) <= max_chars:
                return head + "".join(blocks[:kept]) + note
            if kept:
                size -= len(blocks[kept - 1])
    return head + _note(total, total, json_hint)
