"""Apply what was reviewed, even when ``main`` moved: compare change digests.

The pull request's plan (``plan --out``) records, per environment, a digest of its changes
(:func:`selvsync.plan.document.changes_digest`). On merge, apply plans again from the merged
commit and live state, and goes ahead only if each environment's changes are the same as in
the reviewed plan. Unrelated merges in between (other clients, other environments, already
applied) leave the digest alone; a related one (the same client, or live state changed under
it) changes it, and apply refuses with a readable diff of what differs. An environment with
nothing left to do is always fine: applying nothing cannot go beyond what was reviewed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from selvsync.plan.changes import Change, EnvironmentPlan, Plan
from selvsync.plan.document import change_digest_item, changes_digest
from selvsync.sensitive.mask import MASK, scrub


@dataclass
class ReviewMismatch:
    environment: str
    reviewed: str | None  # the reviewed digest; None: the environment was not in it
    current: str
    lines: list[str] = field(default_factory=list)  # the readable diff


def compare_with_reviewed(current: Plan, reviewed: Plan) -> list[ReviewMismatch]:
    """Every environment of ``current`` whose changes differ from ``reviewed``'s."""
    saved = {env.name: env for env in reviewed.environments}
    out: list[ReviewMismatch] = []
    for env in current.environments:
        if not env.changes:
            continue
        before = saved.get(env.name)
        now = changes_digest(env)
        was = changes_digest(before) if before is not None else None
        if now != was:
            out.append(ReviewMismatch(env.name, was, now, diff_lines(before, env)))
    return out


def compare_with_digest(current: Plan, expected: Sequence[str]) -> list[ReviewMismatch]:
    """``--expect-digest``: each value is ``ENV=DIGEST``, or a bare digest when exactly one
    environment is selected. A digest may be shortened (at least 12 hex digits)."""
    wanted = _parse_expected(current, expected)
    out: list[ReviewMismatch] = []
    for env in current.environments:
        if not env.changes:
            continue
        now = changes_digest(env)
        want = wanted.get(env.name)
        if want is None or not _matches(now, want):
            lines = [f"  {line}" for line in _summaries(env.changes)]
            out.append(ReviewMismatch(env.name, want, now, lines))
    return out


def _parse_expected(current: Plan, expected: Sequence[str]) -> dict[str, str]:
    wanted: dict[str, str] = {}
    names = [env.name for env in current.environments]
    for item in expected:
        name, sep, digest = item.rpartition("=")
        if not sep:
            if len(names) != 1:
                raise ValueError(
                    "a bare --expect-digest needs exactly one environment; write ENV=DIGEST"
                )
            name = names[0]
        wanted[name] = digest
    return wanted


def _matches(digest: str, wanted: str) -> bool:
    hexpart = wanted.removeprefix("sha256:")
    return len(hexpart) >= 12 and digest.removeprefix("sha256:").startswith(hexpart)


def _summaries(changes: Sequence[Change]) -> list[str]:
    return [_summary(c) for c in sorted(changes, key=lambda c: (c.key, str(c.action)))]


def _summary(change: Change) -> str:
    fields = ", ".join(
        f"{f.field}: {_short(f.before)} -> {_short(f.after)}"
        for f in change.fields
        if f.field != "description" or change.action != "create"
    )
    keys = ""
    if change.keys_added or change.keys_removed:
        keys = f" keys +{change.keys_added} -{change.keys_removed}"
    return f"{change.action} {change.key}" + (f" ({fields})" if fields else "") + keys


def _short(value: Any) -> str:
    text = json.dumps(scrub(value, MASK), ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _items(env: EnvironmentPlan | None) -> dict[tuple[str, str], tuple[str, Change]]:
    if env is None:
        return {}
    return {
        (c.key, str(c.action)): (
            json.dumps(scrub(change_digest_item(c), MASK), sort_keys=True, default=str),
            c,
        )
        for c in env.changes
    }


def diff_lines(reviewed: EnvironmentPlan | None, current: EnvironmentPlan) -> list[str]:
    """What differs, change by change: ``-`` reviewed only, ``+`` now only."""
    before, after = _items(reviewed), _items(current)
    lines: list[str] = []
    for ident in sorted(set(before) | set(after)):
        old, new = before.get(ident), after.get(ident)
        if old is not None and new is not None and old[0] == new[0]:
            continue
        if old is not None:
            lines.append(f"  - reviewed: {_summary(old[1])}")
        if new is not None:
            lines.append(f"  + now:      {_summary(new[1])}")
        if old is not None and new is not None and _summary(old[1]) == _summary(new[1]):
            lines.append("    (same fields; the full request body differs, e.g. another field "
                         "of the client changed on main)")
    return lines
