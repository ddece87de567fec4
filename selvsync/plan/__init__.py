"""Desired state and a live snapshot in, a Plan out: pure, no network I/O.

``actions`` (one row per action), ``changes`` (the plan's data), ``builder`` (the planner),
``diff`` (field comparison), ``keys`` and ``merchant`` (their decisions), ``document`` (plan
<-> JSON) and ``planfile`` (saved plans on disk).
"""

from selvsync.plan.actions import ACTIONS, Action, ActionSpec
from selvsync.plan.builder import build_environment_plan
from selvsync.plan.changes import Change, EnvironmentPlan, LiveSnapshot, Plan, PlanOptions

__all__ = [
    "ACTIONS",
    "Action",
    "ActionSpec",
    "Change",
    "EnvironmentPlan",
    "LiveSnapshot",
    "Plan",
    "PlanOptions",
    "build_environment_plan",
]
