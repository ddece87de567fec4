"""A plan as a JSON document and back: the one serialization of plans.

``plan --format json`` prints :func:`plan_document`; ``plan --out`` saves the same with
``plan_file=True`` (plus request bodies, JWKS, live fingerprints and planned creates), and
``apply PLANFILE`` reads that back with :func:`from_dict`. The format is versioned
(``format_version``) and described in docs/plan-format.md.

Every document is masked: fields and keys named ``client_secret``, ``access_token`` or
``assertion`` and any :class:`~selvsync.sensitive.value.Secret` value become ``(sensitive)``
(see :mod:`selvsync.sensitive.mask`), although a plan never should hold any. Pure: reading
and writing files is :mod:`selvsync.live.planfile`'s job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from selvsync.plan.actions import Action
from selvsync.plan.changes import Change, EnvironmentPlan, Plan
from selvsync.plan.diff import FieldChange
from selvsync.plan.safety import Refusal, RefusalKind
from selvsync.sensitive.mask import MASK, MASKED, mask_pair, scrub
from selvsync.text import escape_json

FORMAT_VERSION: Final = 2  # 2: scope actions; renames, successors, others (docs/plan-format.md)
KIND: Final = "selvsync-plan"  # only plan files carry it


def change_as_dict(change: Change, *, bodies: bool = False) -> dict[str, Any]:
    """One change, unmasked; ``bodies`` adds what apply needs (plan files only)."""
    out: dict[str, Any] = {
        "environment": change.environment,
        "key": change.key,
        "action": str(change.action),
        "client_id": change.client_id,
        "fields": [f.as_dict() for f in change.fields],
        "notes": list(change.notes),
    }
    if change.keys_added or change.keys_removed:
        out["keys_added"] = list(change.keys_added)
        out["keys_removed"] = list(change.keys_removed)
    if change.action == Action.MERCHANT:
        out["manual"] = change.manual
    if change.consumer is not None:
        out["consumer_orgno"] = change.consumer
        out["consumer_name"] = change.consumer_name
    # Since format_version 2: a rename's old key, a deactivation's successor, and the kids a
    # change moves from another client (all omitted when not set).
    if change.renamed_from:
        out["renamed_from"] = change.renamed_from
    if change.successor:
        out["successor"] = change.successor
    if change.keys_moved:
        out["keys_moved"] = list(change.keys_moved)
        out["keys_from"] = change.keys_from
    if change.entry is not None:  # onbehalfof-*: the entry's id (the client is ``key``)
        out["onbehalfof"] = change.entry
    if bodies:
        out["body"] = change.body
        out["jwks"] = change.jwks
        out["returns_secret"] = change.returns_secret
        out["protected"] = change.protected
        out["merchant"] = change.merchant
    return out


def change_from_dict(data: Mapping[str, Any]) -> Change:
    return Change(
        environment=str(data["environment"]),
        key=str(data["key"]),
        action=Action(data["action"]),
        client_id=data.get("client_id"),
        fields=[FieldChange(f["field"], f["before"], f["after"]) for f in data["fields"]],
        notes=[str(n) for n in data.get("notes", [])],
        body=data.get("body"),
        jwks=data.get("jwks"),
        keys_added=list(data.get("keys_added", [])),
        keys_removed=list(data.get("keys_removed", [])),
        returns_secret=bool(data.get("returns_secret", False)),
        protected=bool(data.get("protected", False)),
        manual=bool(data.get("manual", False)),
        merchant=data.get("merchant"),
        consumer=data.get("consumer_orgno"),
        consumer_name=data.get("consumer_name"),
        renamed_from=_optional_str(data.get("renamed_from")),
        successor=_optional_str(data.get("successor")),
        keys_moved=[str(k) for k in data.get("keys_moved", [])],
        keys_from=_optional_str(data.get("keys_from")),
        entry=_optional_str(data.get("onbehalfof")),
    )


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _environment_as_dict(env: EnvironmentPlan, *, plan_file: bool) -> dict[str, Any]:
    return {
        "name": env.name,
        "summary": env.summary(),
        "live": dict(env.counts),
        "warnings": list(env.warnings),
        "notes": list(env.notes),
        "refusals": list(env.refusals),
        "blockers": list(env.blockers),
        "others": [dict(o) for o in env.others],
        "overridden": list(env.overridden),
        "maintenance": list(env.maintenance),
        "digest": changes_digest(env),
        # Each refusal's kind (the override that lifts it), in the order of "refusals".
        "refusal_kinds": [_refusal_kind(r) for r in env.refusals],
        **({"fingerprints": env.fingerprints, "absent": env.absent} if plan_file else {}),
        **({"scope_fingerprints": env.scope_fingerprints} if plan_file else {}),
    }


def as_dict(plan: Plan, *, plan_file: bool = False) -> dict[str, Any]:
    """The plan as JSON-ready data, unmasked (:func:`plan_document` masks it)."""
    out: dict[str, Any] = {"kind": KIND} if plan_file else {}
    out |= {
        "format_version": FORMAT_VERSION,
        "orgno": plan.orgno,
        "owner": plan.owner,
        **({"options": {"renew_keys": plan.renew_keys}} if plan_file else {}),
        "changes": [change_as_dict(c, bodies=plan_file) for c in plan.changes],
        "summary": plan.summary(),
        "environments": [_environment_as_dict(e, plan_file=plan_file) for e in plan.environments],
    }
    return out


def field_values(change: FieldChange, mask: Any = MASKED) -> tuple[Any, Any]:
    """``(before, after)`` of a field change, masked when the field itself is sensitive."""
    return mask_pair(change.field, change.before, change.after, mask)


def plan_document(plan: Plan, *, plan_file: bool = False) -> dict[str, Any]:
    """:func:`as_dict` with sensitive values masked: what ``--format json`` and plan files hold."""
    doc: dict[str, Any] = scrub(as_dict(plan, plan_file=plan_file), MASK)
    # Field changes name their field in a value ("field": "client_secret"), which the
    # key-based scrub cannot see; mask those from the Change objects themselves.
    for out, change in zip(doc["changes"], plan.changes, strict=True):
        for fout, fc in zip(out["fields"], change.fields, strict=True):
            fout["before"], fout["after"] = field_values(fc, MASK)
    return doc


def dumps(plan: Plan, *, plan_file: bool = False) -> str:
    """:func:`plan_document` as stable, indented JSON text ending in a newline."""
    text = json.dumps(
        plan_document(plan, plan_file=plan_file), indent=2, sort_keys=False, ensure_ascii=False
    )
    return escape_json(text) + "\n"


def from_dict(data: Any) -> Plan:
    """A plan file's document back as a Plan. Raises KeyError, TypeError or ValueError (or
    AttributeError) on anything malformed; the caller names the file."""
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
            refusals=_refusals_from(env),
            blockers=[str(b) for b in env.get("blockers", [])],
            counts={str(k): int(v) for k, v in env.get("live", {}).items()},
            maintenance=[str(m) for m in env.get("maintenance", [])],
            fingerprints={str(k): str(v) for k, v in fingerprints.items()},
            absent=[str(a) for a in absent],
            scope_fingerprints={
                str(k): str(v) for k, v in (env.get("scope_fingerprints") or {}).items()
            },
        )
    for item in data["changes"]:
        change = change_from_dict(item)
        if change.environment not in environments:
            raise ValueError(f"change for unknown environment {change.environment!r}")
        environments[change.environment].changes.append(change)
    options = data.get("options") or {}
    return Plan(
        str(data["orgno"]),
        str(data["owner"]),
        list(environments.values()),
        renew_keys=bool(options.get("renew_keys", False)),
    )


def _refusal_kind(refusal: str) -> dict[str, str | None]:
    if isinstance(refusal, Refusal):
        return {"kind": str(refusal.kind), "key": refusal.key}
    return {"kind": str(RefusalKind.OTHER), "key": None}


def _refusals_from(env: Mapping[str, Any]) -> list[str]:
    """A saved plan's refusals with their kinds. Refusals the planning run overrode are
    refused again: overrides hold for the run that passes them, not for a file."""
    texts = [str(r) for r in env.get("refusals", [])]
    kinds = env.get("refusal_kinds") or []
    out: list[str] = []
    for i, text in enumerate(texts):
        info = kinds[i] if i < len(kinds) and isinstance(kinds[i], dict) else {}
        try:
            kind = RefusalKind(info.get("kind", RefusalKind.OTHER))
        except ValueError:
            kind = RefusalKind.OTHER
        key = info.get("key")
        out.append(Refusal(text, kind, str(key) if key is not None else None))
    for text in env.get("overridden", []):
        # "<refusal> (overridden by FLAG)": the refusal again, lifted only by --force.
        out.append(Refusal(str(text).rsplit(" (overridden by ", 1)[0], RefusalKind.OTHER))
    return out


def change_digest_item(change: Change) -> dict[str, Any]:
    """What a change digest covers: everything apply would do, not the notes (which say
    e.g. "N days ago" and move with the clock)."""
    out = change_as_dict(change, bodies=True)
    out.pop("notes", None)
    return out


def changes_digest(env: EnvironmentPlan) -> str:
    """A digest of one environment's changes, the same for the same changes on any run.

    `plan --out` records it per environment; `apply --reviewed PLANFILE` and
    `apply --expect-digest` compare it with the plan apply makes on the merged commit
    (octoDNS's checksum idea): equal digests mean apply does exactly what was reviewed."""
    items = sorted(
        (scrub(change_digest_item(c), MASK) for c in env.changes),
        key=lambda d: (str(d["key"]), str(d["action"]), str(d.get("onbehalfof", ""))),
    )
    text = json.dumps(items, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
