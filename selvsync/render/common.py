"""What the plan renderers share: count phrases, value formatting, list deltas, labels.

Everything here is pure. The text and Markdown renderers build on these helpers so that both
show a value, a list change or a masked secret the same way. Per-action symbols, phrases and
order come from :data:`selvsync.plan.actions.ACTIONS`; masking from
:mod:`selvsync.sensitive.mask`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from selvsync.plan.actions import ACTIONS, Action, destructive, phrase_order
from selvsync.plan.changes import Change, EnvironmentPlan
from selvsync.plan.diff import FieldChange
from selvsync.rules.fields import IMMUTABLE_FIELDS
from selvsync.sensitive.mask import MASK, is_hidden
from selvsync.text import escape

# Live-client classes in the order a reader expects; unknown ones follow, sorted.
LIVE_ORDER: Final = ("managed", "orphaned", "foreign", "unmarked", "inactive")

NO_CHANGES: Final = "No changes. Live state matches the configuration."
NO_CHANGES_BLOCKED: Final = "No changes can be planned until the blockers above are resolved."
IRREVERSIBLE: Final = "deactivation at Digdir is irreversible"
FORCES_REPLACEMENT: Final = "forces replacement"


def clean(text: str) -> str:
    """``text`` with control and invisible characters escaped (selvsync.text), so that live
    data (a description, a client_id) cannot move the cursor, inject colour codes or reorder
    what a reviewer reads in a terminal, a CI log or a PR comment."""
    return escape(text)


def clean_lines(text: str) -> str:
    """:func:`clean` for each line of a message that may span lines (errors, warnings)."""
    return "\n".join(clean(line) for line in text.split("\n"))


def _json_default(obj: object) -> str:
    if is_hidden(obj):
        return MASK
    return str(obj)


def format_value(value: Any) -> str:
    """One value on one line: JSON spelling (quoted strings, ``null``, ``true``), UTF-8 kept
    readable, key order fixed so that goldens and reviews are stable."""
    if is_hidden(value):
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


def count_phrases(summary: Mapping[str, int], *, total: bool = False) -> list[str]:
    """``["2 to create", "1 to deactivate"]`` for the non-zero actions; ``total`` adds the
    actions the total line always states."""
    out = []
    for action in phrase_order():
        n = summary.get(str(action), 0)
        if n or (total and ACTIONS[action].always_counted):
            out.append(f"{n} {ACTIONS[action].phrase}")
    return out


def live_phrases(counts: Mapping[str, int]) -> list[str]:
    """``["4 managed", "1 orphaned", ...]`` in a fixed order; empty when nothing was read."""
    names = [n for n in LIVE_ORDER if n in counts] + sorted(set(counts) - set(LIVE_ORDER))
    return [f"{counts[n]} {n}" for n in names]


# At most this many unmarked and foreign clients are named per environment; the JSON plan
# names them all.
OTHERS_SHOWN: Final = 20


def others_phrases(env: EnvironmentPlan) -> list[str]:
    """The active clients selvsync never writes, one phrase each, for the summaries:
    ``unmarked 5f0c... "Gammel app"``; foreign ones say whose marker they carry."""
    out = []
    for entry in env.others[:OTHERS_SHOWN]:
        whose = f", owner {entry['owner']}" if entry.get("owner") else ""
        out.append(
            f"{entry['ownership']}{whose}: {clean(entry['client_id'])} "
            f"{format_value(entry.get('client_name', ''))}"
        )
    if len(env.others) > OTHERS_SHOWN:
        out.append(f"... and {len(env.others) - OTHERS_SHOWN} more (see the JSON plan)")
    return out


def client_label(change: Change) -> str:
    """The key, plus the client_id when one is known (creates have none yet)."""
    label = clean(change.key)
    if change.renamed_from:
        label += f" (renamed from {clean(change.renamed_from)})"
    if change.consumer is not None:  # grant/revoke: the scope, then the organisation
        who = f"{change.consumer_name} ({change.consumer})" if change.consumer_name \
            else change.consumer
        label += f" -> {clean(who)}"
    if change.entry is not None:  # an onbehalfof entry: the client, then the entry's id
        label += f" onbehalfof {clean(change.entry)}"
    if change.client_id:
        label += f" (client_id {clean(change.client_id)})"
    return label


def forces_replacement(change: Change, fc: FieldChange) -> bool:
    return change.action == Action.REPLACE and fc.field in IMMUTABLE_FIELDS


def shows_keys(change: Change) -> bool:
    return bool(change.keys_added or change.keys_removed)


def destructive_counts(env: EnvironmentPlan) -> list[str]:
    summary = env.summary()
    return [f"{summary[str(a)]} {ACTIONS[a].phrase}" for a in destructive() if summary[str(a)]]
