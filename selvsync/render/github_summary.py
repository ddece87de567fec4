"""GitHub Actions job summaries: the Markdown plan on the run's summary page.

GitHub gives every step a file, named by the ``GITHUB_STEP_SUMMARY`` environment variable, and
renders whatever Markdown the step appends to it on the run's page. ``selvsync plan`` appends
the same Markdown it renders for pull-request comments, so a plan is readable from the run
itself (also for drift checks and pushes, which have no pull request to comment on).

The summary is a convenience, never a reason to fail a plan: problems are reported through the
return value and the caller decides whether to warn. Outside GitHub Actions (the variable is
unset or empty) nothing happens. Library code: no printing, no click.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["ENV_VAR", "MAX_SUMMARY_BYTES", "write_step_summary"]

ENV_VAR: Final = "GITHUB_STEP_SUMMARY"
# GitHub drops a step's whole summary when it exceeds 1 MiB ("upload aborted"): better to
# write nothing than to lose what other steps wrote to the same file.
MAX_SUMMARY_BYTES: Final = 1024 * 1024


def write_step_summary(markdown: str, environ: Mapping[str, str]) -> bool:
    """Append ``markdown`` to the file named by ``GITHUB_STEP_SUMMARY`` in ``environ``.

    Returns True when it wrote. False when the variable is unset or empty (not running in
    GitHub Actions: nothing to do), when the file cannot be written (e.g. a read-only path),
    or when the result would pass GitHub's 1 MiB limit for a step summary. Callers that
    want to warn can tell the cases apart by checking ``ENV_VAR in environ`` themselves.

    A blank line separates this text from what earlier steps wrote, so a heading at its start
    stays a heading. Render with ``render_markdown(plan, max_chars=...)`` to stay far below
    the limit; the sticky-comment marker it contains is an HTML comment and does not show.
    """
    target = environ.get(ENV_VAR, "")
    if not target or not markdown:
        return False
    path = Path(target)
    try:
        size = path.stat().st_size if path.exists() else 0
        separator = "\n" if size else ""
        text = separator + markdown + ("" if markdown.endswith("\n") else "\n")
        if size + len(text.encode("utf-8")) > MAX_SUMMARY_BYTES:
            return False
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        return False
    return True
