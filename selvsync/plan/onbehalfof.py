"""Planning onbehalfof entries: a login client's declared entries against its live ones. Pure.

A client that declares `onbehalfof:` owns its entries: each declared entry is created or
updated (PUT replaces the whole entry), each live entry not declared is deleted. A client
without `onbehalfof:` keeps whatever entries it has; they are never read.

Digdir's sources spell two fields two ways (``name``/``display_name``, ``client_uri``/``url``):
live entries are compared in one spelling, and request bodies use the spelling the API
answered with (:func:`spelling_of`), ``name``/``client_uri`` when it has shown none yet.

Safety: deleting entries is destructive (that customer's logins through the client stop), so
deletions count against limits of their own: more than ``safety.max_destroy`` of them in one
environment, or the last entries of a client, are refused unless ``--allow-over-limit``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from selvsync.model import DesiredClient, OnBehalfOf, SafetyLimits
from selvsync.plan.actions import Action
from selvsync.plan.changes import Change, EnvironmentPlan
from selvsync.plan.diff import FieldChange
from selvsync.plan.safety import Refusal, RefusalKind

SUFFIX: Final = "/onbehalfof"  # fingerprint entries for entry lists: "<client_id>/onbehalfof"
# The compared fields in selvsync's spelling, in the order bodies are built in.
FIELDS: Final = ("orgno", "name", "url", "logo_uri", "description")
# (display name, URL) as the API spells them.
SPELLINGS: Final = {"name": ("name", "client_uri"), "display_name": ("display_name", "url")}
DEFAULT_SPELLING: Final = ("name", "client_uri")

Json = dict[str, Any]


def normalise(entry: Mapping[str, Any]) -> Json:
    """A live entry in selvsync's spelling: ``onbehalfof``, ``orgno``, ``name``, ``url``,
    ``logo_uri``, ``description`` (absent ones left out)."""
    out: Json = {"onbehalfof": entry.get("onbehalfof"), "orgno": entry.get("orgno")}
    name = entry.get("name", entry.get("display_name"))
    url = entry.get("client_uri", entry.get("url"))
    for key, value in (("name", name), ("url", url), ("logo_uri", entry.get("logo_uri")),
                       ("description", entry.get("description"))):
        if value is not None:
            out[key] = value
    return out


def spelling_of(clients: Iterable[Mapping[str, Any]],
                extra: Iterable[Iterable[Mapping[str, Any]]] = ()) -> tuple[str, str]:
    """The (display name, URL) field names the API answered with in this listing."""
    lists = [c.get("onbehalfof") for c in clients] + list(extra)
    for entries in lists:
        for entry in entries or ():
            if isinstance(entry, Mapping):
                if "display_name" in entry or "url" in entry:
                    return SPELLINGS["display_name"]
                if "name" in entry or "client_uri" in entry:
                    return SPELLINGS["name"]
    return DEFAULT_SPELLING


def live_entries(client: Mapping[str, Any], read: Mapping[str, list[Json]]) -> list[Json] | None:
    """A live client's entries: read on their own, else the listing's; None when neither
    says (the caller reads them)."""
    cid = str(client.get("client_id"))
    if cid in read:
        return read[cid]
    listed = client.get("onbehalfof")
    if isinstance(listed, list):
        return [dict(e) for e in listed if isinstance(e, Mapping)]
    return None


def fingerprint(entries: Iterable[Mapping[str, Any]]) -> str:
    rows = sorted((normalise(e) for e in entries), key=lambda e: str(e.get("onbehalfof")))
    text = json.dumps(rows, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def body(entry: OnBehalfOf, spelling: tuple[str, str]) -> Json:
    """The request body for ``entry`` (full replace on PUT)."""
    name_field, url_field = spelling
    out: Json = {"onbehalfof": entry.id, "orgno": entry.orgno, name_field: entry.name}
    if entry.url is not None:
        out[url_field] = entry.url
    if entry.logo_uri is not None:
        out["logo_uri"] = entry.logo_uri
    if entry.description is not None:
        out["description"] = entry.description
    return out


def plan_client(
    plan: EnvironmentPlan,
    wanted: DesiredClient,
    client_id: str | None,
    live: list[Json] | None,
    spelling: tuple[str, str],
) -> None:
    """The entry changes of one declared client; ``client_id`` None (a create, or a replace's
    new client) means no live entries: apply writes them to the client it made."""
    declared = wanted.onbehalfof
    if declared is None:
        return
    current = {str(e.get("onbehalfof")): normalise(e) for e in live or ()}
    if client_id is not None:
        plan.fingerprints[client_id + SUFFIX] = fingerprint(live or [])
    for ident, entry in sorted(declared.items()):
        after = entry.as_dict()
        before = current.get(ident)
        if before is None:
            fields = [FieldChange(f, None, after[f]) for f in FIELDS if f in after]
            action = Action.ONBEHALFOF_CREATE
        else:
            fields = [FieldChange(f, before.get(f), after.get(f)) for f in FIELDS
                      if before.get(f) != after.get(f)]
            if not fields:
                continue
            action = Action.ONBEHALFOF_UPDATE
        plan.changes.append(Change(plan.name, wanted.key, action, client_id, fields=fields,
                                   body=body(entry, spelling), entry=ident))
    for ident in sorted(set(current) - set(declared)):
        before = current[ident]
        plan.changes.append(Change(
            plan.name, wanted.key, Action.ONBEHALFOF_DELETE, client_id,
            fields=[FieldChange(f, before[f], None) for f in FIELDS if f in before],
            entry=ident,
            notes=["no longer declared: logins on behalf of this organisation through the "
                   "client stop working"],
        ))


def check_limits(plan: EnvironmentPlan, limits: SafetyLimits,
                 declared: Mapping[str, DesiredClient]) -> None:
    """Refuse (``--allow-over-limit`` lifts it) deleting more entries than
    ``safety.max_destroy`` in one environment, or the last entries of a client."""
    deletes = [c for c in plan.changes if c.action == Action.ONBEHALFOF_DELETE]
    if not deletes:
        return
    hint = "; pass --allow-over-limit if that is intended"
    per_client: dict[str, int] = {}
    for change in deletes:
        per_client[change.key] = per_client.get(change.key, 0) + 1
    for key, n in sorted(per_client.items()):
        client = declared.get(key)
        if client is not None and not client.onbehalfof:
            plan.refusals.append(Refusal(
                f"every onbehalfof entry of client '{key}' ({n}) would be deleted" + hint,
                RefusalKind.OVER_LIMIT,
            ))
    if len(deletes) > limits.max_destroy:
        plan.refusals.append(Refusal(
            f"{len(deletes)} onbehalfof entries would be deleted "
            f"(limit {limits.max_destroy}, `safety.max_destroy`)" + hint,
            RefusalKind.OVER_LIMIT,
        ))
