"""Safety limits on destructive changes, and the narrow overrides that lift them.

Deactivation at Digdir is irreversible, so a plan is refused (exit 4) when it

* deactivates or replaces more than ``safety.max_destroy`` clients (an absolute limit: a
  large organisation's 30 % can be hundreds of clients), or more than
  ``safety.max_destroy_percent`` of the managed clients once there are at least
  ``safety.min_managed_for_percent`` of them;
* deactivates **every** managed client of an environment, whatever the size (an emptied or
  mistyped environment file);
* deactivates or replaces a ``protect: true`` client;
* would create every declared client from an empty listing (``safety.refuse_empty_listing``).

Each refusal has a kind, and each kind has its own override, so a reviewer can lift exactly
one of them: ``--allow-over-limit`` (the limits above), ``--allow-deactivate KEY`` (one
protected client), ``--allow-empty-listing`` (a first apply). ``--force`` lifts them all.
A lifted refusal is not dropped: it moves to ``EnvironmentPlan.overridden`` with the flag
that lifted it, and every renderer shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from selvsync.model import DesiredState, SafetyLimits
from selvsync.plan.actions import ACTIONS, Action
from selvsync.plan.changes import EnvironmentPlan, LiveSnapshot, Plan


class RefusalKind(StrEnum):
    EMPTY_LISTING = "empty-listing"
    PROTECTED = "protected"
    OVER_LIMIT = "over-limit"
    OTHER = "other"  # from an older plan file: only --force lifts it


class Refusal(str):
    """A refusal message that also knows its kind (and, for a protected client, its key).

    A ``str``, so renderers, plan files and JSON keep treating refusals as text."""

    kind: RefusalKind
    key: str | None

    def __new__(cls, message: str, kind: RefusalKind, key: str | None = None) -> Refusal:
        obj = super().__new__(cls, message)
        obj.kind = kind
        obj.key = key
        return obj

    def as_dict(self) -> dict[str, str | None]:
        return {"message": str(self), "kind": str(self.kind), "key": self.key}


def kind_of(refusal: str) -> RefusalKind:
    return refusal.kind if isinstance(refusal, Refusal) else RefusalKind.OTHER


@dataclass(frozen=True)
class Overrides:
    """The override flags of one run; the empty default lifts nothing."""

    force: bool = False
    allow_empty_listing: bool = False
    allow_over_limit: bool = False
    allow_deactivate: frozenset[str] = field(default_factory=frozenset)

    def lifted_by(self, refusal: str) -> str | None:
        """The flag that lifts ``refusal``, or None."""
        kind = kind_of(refusal)
        if kind == RefusalKind.EMPTY_LISTING and self.allow_empty_listing:
            return "--allow-empty-listing"
        if kind == RefusalKind.OVER_LIMIT and self.allow_over_limit:
            return "--allow-over-limit"
        key = refusal.key if isinstance(refusal, Refusal) else None
        if kind == RefusalKind.PROTECTED and key is not None and key in self.allow_deactivate:
            return f"--allow-deactivate {key}"
        return "--force" if self.force else None

    @property
    def any(self) -> bool:
        return bool(
            self.force or self.allow_empty_listing or self.allow_over_limit
            or self.allow_deactivate
        )


def apply_overrides(plan: Plan, overrides: Overrides) -> list[str]:
    """Move every refusal ``overrides`` lifts to ``overridden``; returns what moved, in words.

    Blockers are never lifted: they need a change to the YAML."""
    used: list[str] = []
    for env in plan.environments:
        kept: list[str] = []
        for refusal in env.refusals:
            flag = overrides.lifted_by(refusal)
            if flag is None:
                kept.append(refusal)
                continue
            line = f"{refusal} (overridden by {flag})"
            env.overridden.append(
                Refusal(line, kind_of(refusal), getattr(refusal, "key", None))
            )
            used.append(f"{env.name}: {line}")
        env.refusals = kept
    return used


def unused_allow_deactivate(plan: Plan, overrides: Overrides) -> list[str]:
    """``--allow-deactivate KEY`` naming a key no refusal is about: likely a typo."""
    named = {
        r.key
        for env in plan.environments
        for r in [*env.refusals, *env.overridden]
        if isinstance(r, Refusal) and r.key
    }
    return sorted(set(overrides.allow_deactivate) - named)


def check_empty_listing(plan: EnvironmentPlan, state: DesiredState, live: LiveSnapshot) -> None:
    if live.clients or not state.clients:
        return
    message = (
        "Digdir returned no clients at all for this organisation (not even deactivated "
        f"ones), so all {len(state.clients)} declared clients would be created. If clients "
        "exist in the portal, stop: the listing may be incomplete"
    )
    if state.environment.safety.refuse_empty_listing:
        plan.refusals.append(
            Refusal(
                message + "; on a true first apply, pass --allow-empty-listing",
                RefusalKind.EMPTY_LISTING,
            )
        )
    else:
        plan.warnings.append(message + ".")


def check_limits(plan: EnvironmentPlan, limits: SafetyLimits) -> None:
    """Protected clients and the size limits on deactivations and replacements."""
    managed = plan.counts.get("managed", 0) + plan.counts.get("orphaned", 0)
    destroy = [c for c in plan.changes if c.destructive and ACTIONS[c.action].client_action]
    for change in destroy:
        if change.protected:
            verb = "deactivated" if change.action == Action.DEACTIVATE else "replaced"
            plan.refusals.append(
                Refusal(
                    f"client '{change.key}' is protected and would be {verb}; "
                    f"pass --allow-deactivate {change.key} to allow it",
                    RefusalKind.PROTECTED,
                    change.key,
                )
            )
    deactivate = sum(1 for c in destroy if c.action == Action.DEACTIVATE)
    plan.refusals.extend(_size_refusals(len(destroy), deactivate, managed, limits))


def _size_refusals(
    destroy: int, deactivate: int, managed: int, limits: SafetyLimits
) -> list[Refusal]:
    out: list[Refusal] = []
    hint = "; pass --allow-over-limit if that is intended"
    if managed and deactivate >= managed:
        out.append(
            Refusal(
                f"every managed client ({managed}) would be deactivated" + hint,
                RefusalKind.OVER_LIMIT,
            )
        )
    if destroy > limits.max_destroy:
        out.append(
            Refusal(
                f"{destroy} clients would be deactivated or replaced "
                f"(limit {limits.max_destroy}, `safety.max_destroy`)" + hint,
                RefusalKind.OVER_LIMIT,
            )
        )
    if managed and managed >= limits.min_managed_for_percent:
        share = 100 * destroy / managed
        if share > limits.max_destroy_percent:
            out.append(
                Refusal(
                    f"{destroy} of {managed} managed clients would be deactivated or replaced "
                    f"({share:.0f} %, limit {limits.max_destroy_percent} %)" + hint,
                    RefusalKind.OVER_LIMIT,
                )
            )
    return out
