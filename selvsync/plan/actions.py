"""The plan actions and everything the program knows about each: ONE row per action.

Renderers (symbol, count phrase, column title, colour, order), the summary, the destructive
check and the apply runner's phases all look their action up in :data:`ACTIONS`; nothing
else keeps a per-action table. Adding an action = one ``Action`` member and one row here,
plus its apply handler (``selvsync/apply/runner.py``). ``tests/test_actions.py`` checks that
every action has a complete row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DEACTIVATE = "deactivate"
    ADOPT = "adopt"
    RENAME = "rename"
    ROTATE_SECRET = "rotate-secret"
    UPDATE_KEYS = "update-keys"
    MERCHANT = "merchant"
    # Maskinporten scopes this organisation provides, and who may use them (plan/scopes.py).
    SCOPE_CREATE = "scope-create"
    SCOPE_UPDATE = "scope-update"
    SCOPE_REACTIVATE = "scope-reactivate"
    SCOPE_DEACTIVATE = "scope-deactivate"
    GRANT = "grant"
    REVOKE = "revoke"
    # onbehalfof entries of a login client (plan/onbehalfof.py): one change per entry.
    ONBEHALFOF_CREATE = "onbehalfof-create"
    ONBEHALFOF_UPDATE = "onbehalfof-update"
    ONBEHALFOF_DELETE = "onbehalfof-delete"


@dataclass(frozen=True)
class ActionSpec:
    """How one action is shown, counted and carried out."""

    # ASCII, so output survives consoles and CI logs that are not UTF-8. Every change line
    # also names its action in words, so a shared symbol (``~``) is never ambiguous.
    symbol: str
    phrase: str  # count phrase after the number: "2 to create"
    title: str  # Markdown summary column
    colour: str  # style name of the text renderer (see selvsync/render/text.py)
    # Apply runs phase by phase, lowest first: scopes, then creates (and their keys),
    # deactivations and revocations last. Actions with the same number run in one phase.
    apply_phase: int
    # Rendering order of changes and summary columns: destructive first, so a reviewer
    # cannot miss them.
    render_rank: int
    # Order of the count phrases in headers and the total line: the Terraform reading order
    # (create, update, replace, destroy), then selvsync's own actions.
    phrase_rank: int
    destructive: bool = False
    # Stated in the total line even when zero, so "0 to deactivate" is said, not implied.
    always_counted: bool = False
    # Makes a new client: its key set is shown as added, not changed.
    new_client: bool = False
    # Acts on a Maskinporten scope or its access list (selvsync.plan.scopes), not a client:
    # summary columns for it appear only when a plan has such changes.
    scope: bool = False
    # Acts on one onbehalfof entry of a client (selvsync.plan.onbehalfof): counted against
    # the entries' own limits, not the clients'; summary columns only when present.
    onbehalfof: bool = False

    @property
    def optional_column(self) -> bool:
        """Not a client action: shown in summary tables only when a plan has one."""
        return self.scope or self.onbehalfof

    @property
    def client_action(self) -> bool:
        """Acts on a client itself (what the client safety limits count)."""
        return not (self.scope or self.onbehalfof)


ACTIONS: dict[Action, ActionSpec] = {
    Action.DEACTIVATE: ActionSpec(
        "-", "to deactivate", "Deactivate", "red", apply_phase=7, render_rank=0, phrase_rank=3,
        destructive=True, always_counted=True,
    ),
    Action.REPLACE: ActionSpec(
        "-/+", "to replace", "Replace", "red", apply_phase=5, render_rank=4, phrase_rank=2,
        destructive=True, always_counted=True, new_client=True,
    ),
    Action.CREATE: ActionSpec(
        "+", "to create", "Create", "green", apply_phase=2, render_rank=5, phrase_rank=0,
        always_counted=True, new_client=True,
    ),
    Action.ADOPT: ActionSpec(
        "<=", "to adopt", "Adopt", "cyan", apply_phase=3, render_rank=9, phrase_rank=4,
    ),
    # Terraform's `moved`: the live client changes key (its marker is rewritten in one
    # update); nothing is created or deactivated.
    Action.RENAME: ActionSpec(
        "=>", "to rename", "Rename", "cyan", apply_phase=3, render_rank=10, phrase_rank=5,
    ),
    Action.UPDATE: ActionSpec(
        "~", "to update", "Update", "yellow", apply_phase=3, render_rank=11, phrase_rank=1,
        always_counted=True,
    ),
    Action.UPDATE_KEYS: ActionSpec(
        "~", "to update keys", "Update keys", "yellow", apply_phase=4, render_rank=15,
        phrase_rank=6,
    ),
    Action.ROTATE_SECRET: ActionSpec(
        "~", "to rotate secrets", "Rotate secret", "yellow", apply_phase=4, render_rank=16,
        phrase_rank=7,
    ),
    # Merchant changes may need a person in the portal: a colour of their own. Applied after
    # creates and replacements, so the data lands on the new client.
    Action.MERCHANT: ActionSpec(
        "!", "to update merchant data", "Merchant", "magenta", apply_phase=6, render_rank=17,
        phrase_rank=8,
    ),
    # Scopes first (a client may declare a scope created in the same apply); revocations
    # and scope deactivations with the client deactivations, last.
    Action.SCOPE_DEACTIVATE: ActionSpec(
        "-", "to deactivate scopes", "Deactivate scope", "red", apply_phase=7, render_rank=1,
        phrase_rank=9, destructive=True,
        scope=True,
    ),
    Action.REVOKE: ActionSpec(
        "-", "to revoke access", "Revoke", "red", apply_phase=7, render_rank=2,
        phrase_rank=14, destructive=True,
        scope=True,
    ),
    Action.SCOPE_CREATE: ActionSpec(
        "+", "to create scopes", "Create scope", "green", apply_phase=1, render_rank=6,
        phrase_rank=10,
        scope=True,
    ),
    Action.SCOPE_REACTIVATE: ActionSpec(
        "+", "to reactivate scopes", "Reactivate scope", "green", apply_phase=1,
        render_rank=7, phrase_rank=11,
        scope=True,
    ),
    Action.SCOPE_UPDATE: ActionSpec(
        "~", "to update scopes", "Update scope", "yellow", apply_phase=1, render_rank=12,
        phrase_rank=12,
        scope=True,
    ),
    Action.GRANT: ActionSpec(
        "+", "to grant access", "Grant", "green", apply_phase=2, render_rank=13,
        phrase_rank=13,
        scope=True,
    ),
    # onbehalfof entries: after the client exists (creates, replacements), with the merchant
    # data; deletions with the deactivations, last. A deletion is destructive (a customer's
    # login through the client stops working) and counts against the entry limits.
    Action.ONBEHALFOF_DELETE: ActionSpec(
        "-", "to delete onbehalfof entries", "Delete onbehalfof", "red", apply_phase=7,
        render_rank=3, phrase_rank=17, destructive=True,
        onbehalfof=True,
    ),
    Action.ONBEHALFOF_CREATE: ActionSpec(
        "+", "to create onbehalfof entries", "Create onbehalfof", "green", apply_phase=6,
        render_rank=8, phrase_rank=15,
        onbehalfof=True,
    ),
    Action.ONBEHALFOF_UPDATE: ActionSpec(
        "~", "to update onbehalfof entries", "Update onbehalfof", "yellow", apply_phase=6,
        render_rank=14, phrase_rank=16,
        onbehalfof=True,
    ),
}


def spec(action: Action) -> ActionSpec:
    return ACTIONS[action]


def render_order() -> list[Action]:
    """Actions in rendering order (destructive first)."""
    return sorted(ACTIONS, key=lambda a: ACTIONS[a].render_rank)


def phrase_order() -> list[Action]:
    """Actions in the order of count phrases ("1 to create, 2 to update, ...")."""
    return sorted(ACTIONS, key=lambda a: ACTIONS[a].phrase_rank)


def apply_phases() -> list[tuple[Action, ...]]:
    """Actions grouped by apply phase, in the order the phases run."""
    numbers = sorted({s.apply_phase for s in ACTIONS.values()})
    return [tuple(a for a, s in ACTIONS.items() if s.apply_phase == n) for n in numbers]


def destructive() -> list[Action]:
    """The destructive actions, in rendering order."""
    return [a for a in render_order() if ACTIONS[a].destructive]


def always_counted() -> frozenset[Action]:
    return frozenset(a for a, s in ACTIONS.items() if s.always_counted)
