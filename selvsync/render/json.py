"""The plan as JSON: the masked plan document of :mod:`selvsync.plan.document`."""

from __future__ import annotations

from selvsync.plan import document
from selvsync.plan.changes import Plan


def render_json(plan: Plan, *, plan_file: bool = False) -> str:
    """The plan as stable, versioned JSON (``format_version``); see docs/plan-format.md.

    ``plan_file=True`` gives the document ``selvsync plan --out`` saves and ``apply PLANFILE``
    reads: the same plus request bodies, JWKS and live fingerprints.
    """
    return document.dumps(plan, plan_file=plan_file)
