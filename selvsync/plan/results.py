"""What an apply did: outcomes per change, the check after apply, twins retired.

These are result types, not behaviour: they sit below ``render`` (which must not import
``apply``) so that reports can be rendered from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from selvsync.plan.changes import Change, Plan
from selvsync.plan.races import Twins


class Status(StrEnum):
    APPLIED = "applied"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"
    MANUAL = "manual"  # a portal step for a person; selvsync never claims to have done it


@dataclass
class Outcome:
    change: Change
    status: Status = Status.NOT_ATTEMPTED
    message: str = ""
    client_id: str | None = None
    partly: bool = False  # failed after writing something (e.g. created, keys then failed)


@dataclass
class ApplyReport:
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C: in-flight calls finished, nothing new was started

    @property
    def ok(self) -> bool:
        return all(o.status in (Status.APPLIED, Status.MANUAL) for o in self.outcomes)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def wrote_anything(self) -> bool:
        return any(o.status == Status.APPLIED or o.partly for o in self.outcomes)


@dataclass(frozen=True)
class Retired:
    """A twin this run created and then deactivated, because a racing apply's came first."""

    environment: str
    key: str
    kept: str
    retired: str


@dataclass(frozen=True)
class Unsettled:
    """Writes of this run that the listing still did not show when the wait ran out."""

    environment: str
    waited: float  # seconds
    pending: list[str]  # in words, e.g. "<client_id> not listed yet"

    def message(self) -> str:
        shown = "; ".join(self.pending[:5]) + (
            f"; and {len(self.pending) - 5} more" if len(self.pending) > 5 else ""
        )
        return (
            f"{self.environment}: after {self.waited:.0f} s the listing still does not show "
            f"{len(self.pending)} of this run's writes ({shown}). They were made (see the "
            "table), but a run started now could plan them again: wait, then run `selvsync "
            "plan` to confirm (raise `settle_seconds` in selvsync.yaml to wait longer)"
        )


@dataclass
class AfterApply:
    """The check after an apply: what is left, and what it did about racing applies."""

    plan: Plan
    retired: list[Retired] = field(default_factory=list)
    # Twins this run did not deactivate: another run's (it retires them) or with a secret.
    twins: list[tuple[str, Twins]] = field(default_factory=list)
    # Environments whose listing did not show this run's writes within `settle_seconds`.
    unsettled: list[Unsettled] = field(default_factory=list)
