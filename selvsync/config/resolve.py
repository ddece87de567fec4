"""Shared definitions and variables: deep merge with origins, and ${var} substitution.

Both keep every value's position (``file:line:col``) so that errors found after merging and
substituting still point at the line the user wrote, in whichever file that was.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from selvsync.errors import Diagnostic, Position
from selvsync.yaml.positions import MergedOrigins, Origins, PathKey, dotted

_VAR = re.compile(r"\$\$\{|\$\{([^}]*)\}")
# Dotted names (`org.name`, `org.domain`) are the organisation's (selvsync.config.organisations).
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
# One expanded value may be this long: far beyond any Digdir field, far below what a file of
# references to one big variable could otherwise amplify into (100 000 x 1 MiB).
MAX_EXPANDED = 64 * 1024


class Substituter:
    """Replaces ${name} in every string, reporting undefined names at the string's position."""

    def __init__(
        self, variables: dict[str, str], origin: Position | None, errors: list[Diagnostic]
    ) -> None:
        self.variables = variables
        self.origin = origin
        self.errors = errors

    def apply(self, value: Any, origins: Origins, field: str, path: PathKey = ()) -> Any:
        """``value`` with every ${name} replaced. Positions are looked up only for errors."""
        if isinstance(value, str):
            if "$" not in value:
                return value
            return self._string(value, origins, path, field)
        if isinstance(value, dict):
            return {k: self.apply(v, origins, field, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v, origins, field, (*path, i)) for i, v in enumerate(value)]
        return value

    def _string(self, text: str, origins: Origins, path: PathKey, prefix: str) -> str:
        pos = origins.get(path)
        field = prefix + dotted_suffix(path)
        size = len(text) + sum(
            len(self.variables.get(m.group(1) or "", "")) for m in _VAR.finditer(text)
        )
        if size > MAX_EXPANDED:
            self.errors.append(
                Diagnostic(
                    pos,
                    field,
                    f"expands to about {size} characters, more than the {MAX_EXPANDED} allowed",
                    "use shorter variables or fewer references",
                )
            )
            return text

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name = match.group(1)
            if not _VAR_NAME.match(name):
                self.errors.append(
                    Diagnostic(
                        pos,
                        field,
                        f"invalid variable reference '${{{name}}}'",
                        "names are letters, digits and '_'; write $${ for a literal ${",
                    )
                )
                return match.group(0)
            if name not in self.variables:
                guess = difflib.get_close_matches(name, list(self.variables), n=1)
                self.errors.append(
                    Diagnostic(
                        pos,
                        field,
                        f"undefined variable '${{{name}}}'",
                        f"did you mean '{guess[0]}'?"
                        if guess
                        else "define it under the environment's `variables:` in selvsync.yaml",
                    )
                )
                return match.group(0)
            return self.variables[name]

        return _VAR.sub(replace, text)


def dotted_suffix(path: PathKey) -> str:
    if not path:
        return ""
    text = dotted(path)
    return text if text.startswith("[") else "." + text


def merge_with_origins(
    base: Any, base_origins: Origins, over: Any, over_origins: Origins
) -> tuple[Any, MergedOrigins]:
    """Deep-merge mappings (lists and scalars replace) and keep each value's own origin."""

    def merge(a: Any, b: Any) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            out = dict(a)
            for k, v in b.items():
                out[k] = merge(a[k], v) if k in a else v
            return out
        return b

    merged = merge(base, over)
    return merged, MergedOrigins(merged, over_origins, base_origins)
