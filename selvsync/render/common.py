"""What the plan renderers share: symbols, count phrases, value formatting and redaction.

Everything here is pure. The text and Markdown renderers build on these helpers so that both
show a value, a list change or a masked secret the same way; ``selvsync.render`` is the public
entry point and re-exports the renderers.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Final

from selvsync.plan import diff
from selvsync.plan.changes import Action, Change, EnvironmentPlan
from selvsync.sensitive.value import Secret

# Field and key names whose values are never shown, whatever the plan builder put in them.
# plan.py promises never to carry secrets; this is the second lock on that door, because a
# secret printed into a CI log or a PR comment cannot be taken back. Names match exactly
# (case-insensitive): ``access_token_lifetime`` is an ordinary field.
SENSITIVE: Final = frozenset({"client_secret", "access_token", "assertion"})
MASK: Final = "(sensitive)"

# One symbol per action. Every change line also names its action in words, so symbols that
# are shared (``~``) are never ambiguous; all are ASCII so that output survives consoles and
# CI logs that are not UTF-8.
SYMBOLS: Final[Mapping[Action, str]] = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DEACTIVATE: "-",
    Action.ADOPT: "<=",
    Action.UPDATE_KEYS: "~",
    Action.ROTATE_SECRET: "~",
    Action.MERCHANT: "!",
}

# Order of the count phrases in headers and the total line: the Terraform reading order
# (create, update, replace, destroy), then selvsync's own actions.
PHRASE_ORDER: Final = (
    Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DEACTIVATE,
    Action.ADOPT, Action.UPDATE_KEYS, Action.ROTATE_SECRET, Action.MERCHANT,
)
# Shown in the total line even when zero, so "0 to deactivate" is stated, not implied.
CORE_ACTIONS: Final = frozenset({Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DEACTIVATE})
_PHRASES: Final[Mapping[Action, str]] = {
    Action.CREATE: "to create",
    Action.UPDATE: "to update",
    Action.REPLACE: "to replace",
    Action.DEACTIVATE: "to deactivate",
    Action.ADOPT: "to adopt",
    Action.UPDATE_KEYS: "to update keys",
    Action.ROTATE_SECRET: "to rotate secrets",
    Action.MERCHANT: "to update merchant data",
}
# Live-client classes in the order a reader expects; unknown ones follow, sorted.
LIVE_ORDER: Final = ("managed", "orphaned", "foreign", "unmarked", "inactive")

NO_CHANGES: Final = "No changes. Live state matches the configuration."
NO_CHANGES_BLOCKED: Final = "No changes can be planned until the blockers above are resolved."
IRREVERSIBLE: Final = "deactivation at Digdir is irreversible"
FORCES_REPLACEMENT: Final = "forces replacement"


class _Masked:
    """Stands in for a hidden value; renders as ``(sensitive)`` without quotes."""

    def __repr__(self) -> str:
        return MASK


MASKED: Final = _Masked()


def is_sensitive(name: object) -> bool:
    return isinstance(name, str) and name.lower() in SENSITIVE


def scrub(value: Any, mask: Any = MASKED) -> Any:
    """A copy of ``value`` with Secrets and values under sensitive keys replaced by ``mask``.

    ``None`` under a sensitive key stays ``None``: that a value is absent is no secret, and
    keeping it lets a reader see "no secret before, one after".
    """
    if isinstance(value, Secret | _Masked):
        return mask
    if isinstance(value, Mapping):
        return {k: (mask if is_sensitive(k) and v is not None else scrub(v, mask))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, mask) for v in value]
    return value


def field_values(change: diff.FieldChange, mask: Any = MASKED) -> tuple[Any, Any]:
    """``(before, after)`` of a field change, masked when the field itself is sensitive."""
    if is_sensitive(change.field):
        return (None if change.before is None else mask, None if change.after is None else mask)
    return scrub(change.before, mask), scrub(change.after, mask)


def clean(text: str) -> str:
    """``text`` with control characters escaped, so that live data (a description, a
    client_id) cannot move the cursor or inject colour codes into a terminal or CI log."""
    if text.isprintable():
        return text
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) == "Cc" else c for c in text)


def _json_default(obj: object) -> str:
    if isinstance(obj, Secret | _Masked):
        return MASK
    return str(obj)


def format_value(value: Any) -> str:
    """One value on one line: JSON spelling (quoted strings, ``null``, ``true``), UTF-8 kept
    readable, key order fixed so that goldens and reviews are stable."""
    if isinstance(value, _Masked | Secret):
        return MASK
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)
    return clean(text)


def is_list_change(before: Any, after: Any) -> bool:
    """Whether to show a change element by element: both sides lists (absent counts as
    empty, since Digdir treats an empty URI or scope list and a missing one alike)."""
    sides = [v for v in (before, after) if v is not None]
    return bool(sides) and all(isinstance(v, list) for v in sides)


def list_delta(before: Sequence[Any] | None, after: Sequence[Any] | None
               ) -> tuple[list[Any], list[Any], int]:
    """``(removed, added, unchanged count)``, each side in its own order. Equality, not
    hashing, so lists of objects (JWKs, invoice rows) work too."""
    old = list(before or [])
    new = list(after or [])
    removed = [v for v in old if v not in new]
    added = [v for v in new if v not in old]
    return removed, added, len(old) - len(removed)


def count_phrases(summary: Mapping[str, int], *, always: frozenset[Action] = frozenset()
                  ) -> list[str]:
    """``["2 to create", "1 to deactivate"]`` for the non-zero (or ``always``) actions."""
    out = []
    for action in PHRASE_ORDER:
        n = summary.get(str(action), 0)
        if n or action in always:
            out.append(f"{n} {_PHRASES[action]}")
    return out


def live_phrases(counts: Mapping[str, int]) -> list[str]:
    """``["4 managed", "1 orphaned", ...]`` in a fixed order; empty when nothing was read."""
    names = [n for n in LIVE_ORDER if n in counts] + sorted(set(counts) - set(LIVE_ORDER))
    return [f"{counts[n]} {n}" for n in names]


def client_label(change: Change) -> str:
    """The key, plus the client_id when one is known (creates have none yet)."""
    label = clean(change.key)
    if change.client_id:
        label += f" (client_id {clean(change.client_id)})"
    return label


def forces_replacement(change: Change, fc: diff.FieldChange) -> bool:
    return change.action == Action.REPLACE and fc.field in diff.IMMUTABLE_FIELDS


def shows_keys(change: Change) -> bool:
    return bool(change.keys_added or change.keys_removed)


def destructive_counts(env: EnvironmentPlan) -> list[str]:
    summary = env.summary()
    return [f"{summary[str(a)]} {_PHRASES[a]}" for a in (Action.DEACTIVATE, Action.REPLACE)
            if summary[str(a)]]
