"""Plan renderers: pure functions from a Plan to a string (text, JSON, Markdown).

The CLI picks one and prints its result; nothing here prints, reads the environment or knows
about terminals (colour is a parameter). Formats are documented in docs/plan-format.md and
pinned by golden files in tests/golden/.

Every renderer masks secrets on its own, although a Plan never should hold any: fields and
keys named ``client_secret``, ``access_token`` or ``assertion`` and any
:class:`~selvsync.sensitive.value.Secret` value render as ``(sensitive)``.
"""

from __future__ import annotations

import json
from typing import Any

from selvsync.plan.changes import Plan
from selvsync.render.common import MASK, SENSITIVE, SYMBOLS, field_values, scrub
from selvsync.render.markdown import MARKER, render_markdown
from selvsync.render.text import render_text

__all__ = [
    "MARKER",
    "SENSITIVE",
    "SYMBOLS",
    "plan_document",
    "render_json",
    "render_markdown",
    "render_text",
]


def plan_document(plan: Plan, *, plan_file: bool = False) -> dict[str, Any]:
    """``plan.as_dict()`` with sensitive values masked: what ``render_json`` serialises."""
    doc: dict[str, Any] = scrub(plan.as_dict(plan_file=plan_file), MASK)
    # Field changes name their field in a value ("field": "client_secret"), which the
    # key-based scrub cannot see; mask those from the Change objects themselves.
    for out, change in zip(doc["changes"], plan.changes, strict=True):
        for fout, fc in zip(out["fields"], change.fields, strict=True):
            fout["before"], fout["after"] = field_values(fc, MASK)
    return doc


def render_json(plan: Plan, *, plan_file: bool = False) -> str:
    """The plan as stable, versioned JSON (``format_version``); see docs/plan-format.md.

    ``plan_file=True`` gives the document ``selvsync plan --out`` saves and ``apply PLANFILE``
    reads: the same plus request bodies, JWKS and live fingerprints.
    """
    return json.dumps(plan_document(plan, plan_file=plan_file), indent=2, sort_keys=False,
                      ensure_ascii=False) + "\n"
