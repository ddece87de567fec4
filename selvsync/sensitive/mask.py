"""Masking sensitive values in structured data (plans, their JSON documents, rendered text).

A plan never should hold a secret (selvsync.plan.changes promises as much); this is the
second lock on that door, because a secret printed into a CI log or a PR comment cannot be
taken back. :mod:`selvsync.sensitive.redact` does the same for free text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from selvsync.sensitive.value import Secret

# Field and key names whose values are never shown, whatever the plan builder put in them.
# Names match exactly (case-insensitive): ``access_token_lifetime`` is an ordinary field.
SENSITIVE: Final = frozenset({"client_secret", "access_token", "assertion"})
MASK: Final = "(sensitive)"


class Masked:
    """Stands in for a hidden value; renders as ``(sensitive)`` without quotes."""

    def __repr__(self) -> str:
        return MASK


MASKED: Final = Masked()


def is_sensitive(name: object) -> bool:
    return isinstance(name, str) and name.lower() in SENSITIVE


def is_hidden(value: object) -> bool:
    """Whether ``value`` is a secret or already stands in for one."""
    return isinstance(value, Secret | Masked)


def scrub(value: Any, mask: Any = MASKED) -> Any:
    """A copy of ``value`` with Secrets and values under sensitive keys replaced by ``mask``.

    ``None`` under a sensitive key stays ``None``: that a value is absent is no secret, and
    keeping it lets a reader see "no secret before, one after".
    """
    if is_hidden(value):
        return mask
    if isinstance(value, Mapping):
        return {k: (mask if is_sensitive(k) and v is not None else scrub(v, mask))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, mask) for v in value]
    return value


def mask_pair(name: str, before: Any, after: Any, mask: Any = MASKED) -> tuple[Any, Any]:
    """``(before, after)`` of a named value that changes, masked when the name is sensitive
    (absent stays absent) and scrubbed otherwise."""
    if is_sensitive(name):
        return (None if before is None else mask, None if after is None else mask)
    return scrub(before, mask), scrub(after, mask)
