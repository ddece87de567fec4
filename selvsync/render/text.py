"""The plan for a terminal or a CI log: Terraform-like, destructive changes first.

Layout (see docs/plan-format.md for the full description and the legend)::

    Environment prod: 1 to create, 1 to deactivate
      live clients: 4 managed, 1 orphaned, 0 foreign, 2 unmarked, 0 inactive

      DESTRUCTIVE: 1 to deactivate; deactivation at Digdir is irreversible.

      -   deactivate    old-api (client_id 5f0c...)
            # no longer declared; deactivation at Digdir is irreversible

      Other changes:

      +   create        minside-web
            + client_name: "Min side"

    Plan: 1 to create, 0 to update, 0 to replace, 1 to deactivate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from selvsync.plan.actions import ACTIONS, Action
from selvsync.plan.changes import Change, EnvironmentPlan, Plan
from selvsync.plan.diff import FieldChange
from selvsync.plan.document import field_values
from selvsync.render.common import (
    FORCES_REPLACEMENT,
    IRREVERSIBLE,
    NO_CHANGES,
    NO_CHANGES_BLOCKED,
    clean,
    client_label,
    count_phrases,
    destructive_counts,
    forces_replacement,
    format_value,
    is_list_change,
    list_delta,
    live_phrases,
    others_phrases,
    shows_keys,
)

_SGR: Final[Mapping[str, str]] = {
    "bold": "1",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "magenta": "35",
    "cyan": "36",
    "bold red": "1;31",
    "bold yellow": "1;33",
}
_FIELD_INDENT: Final = " " * 8
_ITEM_INDENT: Final = _FIELD_INDENT + "    "


class _Painter:
    """Wraps text in ANSI SGR codes, or returns it untouched when colour is off, so that
    layout code reads the same either way."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, style: str) -> str:
        if not self.color or not text:
            return text
        return f"\x1b[{_SGR[style]}m{text}\x1b[0m"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _messages(title: str, detail: str, items: list[str], p: _Painter) -> list[str]:
    style = "bold yellow" if title in ("WARNING", "MAINTENANCE", "OVERRIDDEN") else "bold red"
    return ["", f"  {p(title, style)} ({detail}):"] + [f"    ! {clean(i)}" for i in items]


def _field_lines(change: Change, fc: FieldChange, p: _Painter) -> list[str]:
    before, after = field_values(fc)
    name = clean(fc.field)
    plus, minus = p("+", "green"), p("-", "red")
    if change.action in (Action.CREATE, Action.SCOPE_CREATE, Action.ONBEHALFOF_CREATE):
        # A new client has no "before": show only what will be sent.
        if is_list_change(None, after):
            return [f"{_FIELD_INDENT}{plus} {name}:"] + [
                f"{_ITEM_INDENT}{plus} {format_value(v)}" for v in after or []]
        return [f"{_FIELD_INDENT}{plus} {name}: {format_value(after)}"]
    tilde = p("~", "yellow")
    if is_list_change(before, after):
        removed, added, same = list_delta(before, after)
        note = f" ({same} unchanged)" if same else ""
        if not removed and not added:
            note = " (order changed)"
        return ([f"{_FIELD_INDENT}{tilde} {name}:{note}"]
                + [f"{_ITEM_INDENT}{minus} {format_value(v)}" for v in removed]
                + [f"{_ITEM_INDENT}{plus} {format_value(v)}" for v in added])
    line = f"{_FIELD_INDENT}{tilde} {name}: {format_value(before)} -> {format_value(after)}"
    if forces_replacement(change, fc):
        line += "  " + p(f"# {FORCES_REPLACEMENT}", "red")
    return [line]


def _change_lines(change: Change, p: _Painter) -> list[str]:
    # A portal step is not something selvsync does: say so where the action is named.
    action = "manual" if change.manual else str(change.action)
    spec = ACTIONS[change.action]
    tag = p(f"{spec.symbol:<3} {action}", spec.colour)
    # Client actions set the column (scope actions may run past it; plans without scope
    # changes read as they always have).
    width = max(len(str(a)) for a, s in ACTIONS.items() if s.client_action)
    pad = " " * max(0, width - len(action))   # outside the colour: keys line up either way
    head = f"  {tag}{pad} {client_label(change)}"
    if change.protected:
        head += " [protected]"
    lines = [head]
    for fc in change.fields:
        lines += _field_lines(change, fc, p)
    if shows_keys(change):
        new = ACTIONS[change.action].new_client
        mark = p("+", "green") if new else p("~", "yellow")
        lines.append(f"{_FIELD_INDENT}{mark} keys (kid):")
        lines += [f"{_ITEM_INDENT}{p('-', 'red')} {format_value(k)}" for k in change.keys_removed]
        lines += [f"{_ITEM_INDENT}{p('+', 'green')} {format_value(k)}" for k in change.keys_added]
    lines += [f"{_FIELD_INDENT}# {clean(n)}" for n in change.notes]
    return lines


def _problem_lines(env: EnvironmentPlan, p: _Painter) -> list[str]:
    lines: list[str] = []
    if env.blockers:
        lines += _messages("BLOCKED", "fix the configuration; --force does not override",
                           env.blockers, p)
    if env.refusals:
        lines += _messages("REFUSED", "apply exits 4 unless overridden", env.refusals, p)
    if env.overridden:
        lines += _messages("OVERRIDDEN", "refused, but lifted for this run", env.overridden, p)
    if env.warnings:
        lines += _messages("WARNING", "check before applying", env.warnings, p)
    upkeep = [m for m in env.maintenance if m not in env.warnings]  # not shown twice
    if upkeep:
        lines += _messages("MAINTENANCE", "needs a later apply; counts as drift", upkeep, p)
    return lines


def _changes_lines(env: EnvironmentPlan, changes: list[Change], p: _Painter) -> list[str]:
    """Destructive changes first under their own heading, then the others."""
    lines: list[str] = []
    destructive = [c for c in changes if c.destructive]
    others = [c for c in changes if not c.destructive]
    if destructive:
        label = p("DESTRUCTIVE", "bold red")
        lines += ["", f"  {label}: {', '.join(destructive_counts(env))}; {IRREVERSIBLE}."]
        for change in destructive:
            lines += ["", *_change_lines(change, p)]
    if others:
        if destructive:
            lines += ["", "  Other changes:"]
        for change in others:
            lines += ["", *_change_lines(change, p)]
    return lines


def _environment_lines(env: EnvironmentPlan, p: _Painter) -> list[str]:
    counts = ", ".join(count_phrases(env.summary())) or "no changes"
    lines = [p(f"Environment {clean(env.name)}: {counts}", "bold")]
    live = live_phrases(env.counts)
    if live:
        lines.append("  live clients: " + ", ".join(live))
    others = others_phrases(env)
    if others:
        lines.append("  not managed here (never written):")
        lines += [f"    {o}" for o in others]
    # Problems come before the changes: a reviewer must not scroll past them.
    lines += _problem_lines(env, p)
    changes = env.ordered()
    if not changes:
        return [*lines, "", "  " + (NO_CHANGES_BLOCKED if env.blockers else NO_CHANGES)]
    return lines + _changes_lines(env, changes, p)


def _refusal_line(plan: Plan, p: _Painter) -> list[str]:
    blockers = sum(len(e.blockers) for e in plan.environments)
    refusals = sum(len(e.refusals) for e in plan.environments)
    if not blockers and not refusals:
        return []
    parts = []
    if blockers:
        parts.append(_plural(blockers, "blocker") + " (fix the configuration)")
    if refusals:
        parts.append(_plural(refusals, "refusal") + " (see REFUSED for the override)")
    return ["", p("Apply would refuse this plan (exit 4): " + ", ".join(parts) + ".",
                  "bold red")]


def render_text(plan: Plan, *, color: bool) -> str:
    """The plan as text for people. ``color`` adds ANSI colours (the caller decides: a
    terminal and no ``NO_COLOR``)."""
    p = _Painter(color)
    lines = [f"selvsync plan for organisation {clean(plan.orgno)} (owner {clean(plan.owner)})"]
    for env in plan.environments:
        lines += ["", *_environment_lines(env, p)]
    # Repeated at the end: in a long plan the messages at the top have scrolled away.
    lines += _refusal_line(plan, p)
    total = ", ".join(count_phrases(plan.summary(), total=True))
    lines += ["", p(f"Plan: {total}.", "bold")]
    return "\n".join(lines) + "\n"
