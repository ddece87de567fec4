"""The exception tree. Every error knows the exit code the CLI maps it to.

    SelvsyncError (1)
    ├── ConfigError (3)          invalid YAML, schema or Digdir rules; carries Diagnostics
    ├── UnsafePlanError (4)      thresholds, protected clients, replace without opt-in
    ├── StalePlanError (4)       a saved plan no longer matches live state
    ├── PartialApplyError (5)    some changes applied, some failed or not attempted
    └── ApiError (1)             see selvsync.api.errors for the HTTP-level subclasses

Messages never contain secrets: callers pass redacted text only, and ApiError bodies
are redacted before they are stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    CHANGES = 2
    CONFIG = 3
    REFUSED = 4
    PARTIAL = 5
    USAGE = 64
    INTERRUPTED = 130


@dataclass(frozen=True, order=True)
class Position:
    """A place in a file. Lines and columns are 1-based, as editors show them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in the configuration, printed as
    ``file:line:col: field: message (hint)``."""

    position: Position | None
    field: str
    message: str
    hint: str = ""

    def sort_key(self) -> tuple[str, int, int, str, str]:
        p = self.position
        return (
            (p.file, p.line, p.col, self.field, self.message)
            if p
            else ("", 0, 0, self.field, self.message)
        )

    def __str__(self) -> str:
        where = f"{self.position}: " if self.position else ""
        field = f"{self.field}: " if self.field else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{field}{self.message}{hint}"


class SelvsyncError(Exception):
    """Base of every error selvsync raises on purpose."""

    exit_code: ExitCode = ExitCode.ERROR


class ConfigError(SelvsyncError):
    """The configuration is invalid. Holds every problem found, sorted by position."""

    exit_code = ExitCode.CONFIG

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        unique = {str(d): d for d in diagnostics}
        self.diagnostics: list[Diagnostic] = sorted(unique.values(), key=Diagnostic.sort_key)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(str(d) for d in self.diagnostics)


class UnsafePlanError(SelvsyncError):
    exit_code = ExitCode.REFUSED


class StalePlanError(SelvsyncError):
    exit_code = ExitCode.REFUSED


class PartialApplyError(SelvsyncError):
    exit_code = ExitCode.PARTIAL


class UsageError(SelvsyncError):
    exit_code = ExitCode.USAGE
