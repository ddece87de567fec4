"""Plan renderers: pure functions from a Plan to a string, one per output format.

:data:`FORMATS` is the registry: the CLI's ``--format`` choice is built from its keys, and
:func:`render` picks from it. Adding a format = one module here and one row in FORMATS.
Nothing here prints, reads the environment or knows about terminals (colour is a parameter).
Formats are documented in docs/plan-format.md and pinned by golden files in tests/golden/.

Every renderer masks secrets on its own (see :mod:`selvsync.sensitive.mask`), although a Plan
never should hold any.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from selvsync.plan.changes import Plan
from selvsync.render.json import render_json
from selvsync.render.markdown import MARKER, render_markdown
from selvsync.render.text import render_text

__all__ = [
    "FORMATS",
    "MARKER",
    "Format",
    "RenderOptions",
    "render",
    "render_json",
    "render_markdown",
    "render_text",
]


@dataclass(frozen=True)
class RenderOptions:
    """What the caller knows that a renderer may use; each format takes what it needs."""

    color: bool = False  # ANSI colours (text)
    json_hint: str | None = None  # where the full plan is, when a comment is cut (markdown)


@dataclass(frozen=True)
class Format:
    render: Callable[[Plan, RenderOptions], str]
    extension: str
    media_type: str


FORMATS: Final[Mapping[str, Format]] = {
    "text": Format(lambda plan, o: render_text(plan, color=o.color), ".txt", "text/plain"),
    "json": Format(lambda plan, o: render_json(plan), ".json", "application/json"),
    "markdown": Format(
        lambda plan, o: render_markdown(plan, json_hint=o.json_hint), ".md", "text/markdown"
    ),
}


def render(plan: Plan, fmt: str, *, color: bool = False, json_hint: str | None = None) -> str:
    """``plan`` in the format named ``fmt`` (a key of :data:`FORMATS`)."""
    return FORMATS[fmt].render(plan, RenderOptions(color=color, json_hint=json_hint))
