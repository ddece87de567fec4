"""Saved plans (``plan --out``) and the check that live state has not moved since.

A plan file is the JSON plan plus, per environment, a fingerprint of every live object the
plan read and the keys it planned to create. ``apply PLANFILE`` re-reads live state and refuses
(exit 4, naming what moved) if any fingerprint changed or a planned create already exists; so
applying one plan file twice never duplicates anything. Plan files never hold secrets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selvsync.errors import ConfigError, Diagnostic, Position, StalePlanError
from selvsync.files import atomic_write
from selvsync.marker import classify_owner, index_managed
from selvsync.plan import document
from selvsync.plan.changes import (
    JWKS_SUFFIX,
    EnvironmentPlan,
    LiveSnapshot,
    Plan,
    fingerprint,
    jwks_fingerprint,
)


def write(plan: Plan, path: Path) -> None:
    # The document masks anything sensitive by name or type, a second line of defence.
    text = document.dumps(plan, plan_file=True)
    atomic_write(path, text)


def read(path: Path) -> Plan:
    """Load a plan file; anything malformed is a clear error naming the file, never a traceback."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _bad(shown, f"cannot read plan file: {exc.strerror}") from None
    if len(raw) > 64 * 1024 * 1024:
        raise _bad(shown, "plan file is larger than 64 MiB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise _bad(shown, "not a selvsync plan file (nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(
            shown,
            f"not a selvsync plan file (invalid JSON: {exc})",
            "write one with `selvsync plan --out FILE`",
        ) from None
    try:
        return document.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise _bad(
            shown,
            f"not a valid selvsync plan file ({type(exc).__name__}: {exc})",
            "write a new one with `selvsync plan --out FILE`",
        ) from None


def _bad(shown: str, message: str, hint: str = "") -> ConfigError:
    return ConfigError([Diagnostic(Position(shown, 1, 1), "", message, hint)])


def moved(saved: EnvironmentPlan, live: LiveSnapshot, owner: str) -> list[str]:
    """What changed in live state since ``saved`` was planned, in words."""
    problems: list[str] = []
    current = {str(c.get("client_id")): c for c in live.clients}
    for entry, digest in sorted(saved.fingerprints.items()):
        cid, is_jwks, _ = entry.partition(JWKS_SUFFIX)
        client = current.get(cid)
        if client is None:
            if not is_jwks:
                problems.append(f"client {cid} is gone")
        elif is_jwks:
            if jwks_fingerprint(live.jwks.get(cid, [])) != digest:
                problems.append(
                    f"the keys of {_name(client, owner)} changed since the plan was made"
                )
        elif fingerprint(client) != digest:
            problems.append(f"{_name(client, owner)} changed since the plan was made")
    present = index_managed(live.clients, owner)
    for key in saved.absent:
        if key in present:
            problems.append(f"'{key}' was planned for create but now exists")
    return [f"{saved.name}: {p}" for p in problems]


def _name(client: dict[str, Any], owner: str) -> str:
    marker, _ = classify_owner(client.get("description"), owner)
    key = f" ('{marker.key}')" if marker is not None else ""
    return f"client {client.get('client_id')}{key}"


def jwks_ids(saved: EnvironmentPlan) -> list[str]:
    """The clients whose key sets the saved plan read (and so must be re-read)."""
    return sorted(e[: -len(JWKS_SUFFIX)] for e in saved.fingerprints if e.endswith(JWKS_SUFFIX))


def check_fresh(
    saved: Plan, snapshots: dict[str, LiveSnapshot], extra: list[str] | None = None
) -> None:
    """StalePlanError naming everything that moved; ``extra``: what moved among the scopes
    (selvsync.plan.scopes.moved)."""
    problems = [
        p for env in saved.environments for p in moved(env, snapshots[env.name], saved.owner)
    ] + list(extra or [])
    if problems:
        raise StalePlanError(
            "live state moved since the plan was made; nothing was applied:\n  "
            + "\n  ".join(problems)
            + "\nRun `selvsync plan --out FILE` again."
        )
