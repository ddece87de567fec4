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
from selvsync.plan.changes import (
    FORMAT_VERSION,
    JWKS_SUFFIX,
    Change,
    EnvironmentPlan,
    LiveSnapshot,
    Plan,
    fingerprint,
    jwks_fingerprint,
)
from selvsync.render import render_json

KIND = "selvsync-plan"


def write(plan: Plan, path: Path) -> None:
    # The renderer masks anything sensitive by name or type, a second line of defence.
    text = render_json(plan, plan_file=True)
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
        return _parse(data)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise _bad(
            shown,
            f"not a valid selvsync plan file ({type(exc).__name__}: {exc})",
            "write a new one with `selvsync plan --out FILE`",
        ) from None


def _bad(shown: str, message: str, hint: str = "") -> ConfigError:
    return ConfigError([Diagnostic(Position(shown, 1, 1), "", message, hint)])


def _parse(data: Any) -> Plan:
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ValueError("missing kind: selvsync-plan")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"format_version {data.get('format_version')!r} is not "
            f"{FORMAT_VERSION}; plan again with this version of selvsync"
        )
    environments: dict[str, EnvironmentPlan] = {}
    for env in data["environments"]:
        fingerprints = env["fingerprints"]
        absent = env["absent"]
        if not isinstance(fingerprints, dict) or not isinstance(absent, list):
            raise TypeError("fingerprints/absent have the wrong type")
        environments[str(env["name"])] = EnvironmentPlan(
            name=str(env["name"]),
            warnings=[str(w) for w in env.get("warnings", [])],
            refusals=[str(r) for r in env.get("refusals", [])],
            blockers=[str(b) for b in env.get("blockers", [])],
            counts={str(k): int(v) for k, v in env.get("live", {}).items()},
            fingerprints={str(k): str(v) for k, v in fingerprints.items()},
            absent=[str(a) for a in absent],
        )
    for item in data["changes"]:
        change = Change.from_dict(item)
        if change.environment not in environments:
            raise ValueError(f"change for unknown environment {change.environment!r}")
        environments[change.environment].changes.append(change)
    return Plan(str(data["orgno"]), str(data["owner"]), list(environments.values()))


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


def check_fresh(saved: Plan, snapshots: dict[str, LiveSnapshot]) -> None:
    problems = [
        p for env in saved.environments for p in moved(env, snapshots[env.name], saved.owner)
    ]
    if problems:
        raise StalePlanError(
            "live state moved since the plan was made; nothing was applied:\n  "
            + "\n  ".join(problems)
            + "\nRun `selvsync plan --out FILE` again."
        )
