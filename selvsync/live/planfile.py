"""Reading and writing plan files (``plan --out``, ``apply PLANFILE``).

A plan file is untrusted input: anyone who can edit it could add changes or drop the
refusals and fingerprints that protect live state. It is read only if it is a regular file
under :data:`MAX_BYTES`, decoded with Python's bounded JSON parser, and checked against the
published schema (``selvsync/schemas/plan.schema.json``) before any value is used; anything
malformed is a ConfigError (exit 3) naming the file and the path inside it, never a
traceback. What a valid file asks for is then re-derived against live state and the current
configuration (selvsync.plan.recheck) before anything is applied.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selvsync.config.schema import validate_data
from selvsync.errors import ConfigError, Diagnostic, Position
from selvsync.files import atomic_write, read_regular
from selvsync.plan import document
from selvsync.plan.changes import Plan

MAX_BYTES = 64 * 1024 * 1024


def write(plan: Plan, path: Path) -> None:
    """Save ``plan`` for ``apply PLANFILE``, atomically (the folder must exist)."""
    # The document masks anything sensitive by name or type, a second line of defence.
    atomic_write(path, document.dumps(plan, plan_file=True))


def read(path: Path) -> Plan:
    """Load a plan file; anything malformed is a clear error naming the file, never a traceback."""
    shown = str(path)
    try:
        raw = read_regular(path, limit=MAX_BYTES)
    except OSError as exc:
        raise _bad(shown, f"cannot read plan file: {exc.strerror or exc}") from None
    data = _decode(raw, shown)
    problems = validate_data(data, "plan", shown)
    if problems:
        raise ConfigError(problems)
    try:
        return document.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(
            shown,
            f"not a valid selvsync plan file ({exc})",
            "write a new one with `selvsync plan --out FILE`",
        ) from None


def _decode(raw: bytes, shown: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise _bad(shown, "not a selvsync plan file (nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        # ValueError also covers integers longer than Python's digit limit.
        raise _bad(
            shown,
            f"not a selvsync plan file (invalid JSON: {exc})",
            "write one with `selvsync plan --out FILE`",
        ) from None


def _bad(shown: str, message: str, hint: str = "") -> ConfigError:
    return ConfigError([Diagnostic(Position(shown, 1, 1), "", message, hint)])
