"""A client's life across keys, owners and replacements: the plan's rules for never losing
what Digdir holds. Pure, called by selvsync.plan.builder.

* **Look-alikes** (lost markers): a declared client without a marked live client is not
  created while an unmarked live client looks like it (same integration_type and
  client_name, or one of its key file's kids registered): a blocker names the candidate and
  the two ways on (`client_id:` to adopt it, `create: new` to create anyway).
* **Owner changes**: a live client carrying the same key under another owner's selvsync
  marker, with the same integration_type and client_name, blocks a create too;
  `previous_owners:` in selvsync.yaml adopts them all in one apply. (Two owners may share a
  key's name for different clients: that alone blocks nothing.)
* **Replacements** keep their kids: Digdir holds a kid on one client only (a deactivated one
  keeps its kids), so the kids move from the old client to the new one in apply.
* **Successors**: a deactivation whose client looks replaced by a client this plan creates
  under another key waits for that client to exist completely.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from selvsync.marker import classify_owner, parse
from selvsync.model import DesiredClient
from selvsync.plan.actions import Action
from selvsync.plan.changes import Change, EnvironmentPlan
from selvsync.plan.lossless import kept_fields

CREATE_NEW_HINT: Final = "add `create: new` to the client to create a new one anyway"
_MAX_KEPT_SHOWN: Final = 8


def others_summary(others: Iterable[Mapping[str, Any]], owner: str) -> list[dict[str, str]]:
    """The active clients selvsync never writes, named for the plan summary."""
    out: list[dict[str, str]] = []
    for client in others:
        _, foreign = classify_owner(client.get("description"), owner)
        entry = {
            "client_id": str(client.get("client_id")),
            "client_name": str(client.get("client_name") or ""),
            "ownership": "foreign" if foreign else "unmarked",
        }
        _, marker = parse(client.get("description"))
        if marker is not None:
            entry["owner"] = marker.owner
        out.append(entry)
    return sorted(out, key=lambda e: (e["ownership"], e["client_name"], e["client_id"]))


def previous_owner_client(
    others: Iterable[dict[str, Any]], wanted: DesiredClient, previous: tuple[str, ...]
) -> dict[str, Any] | None:
    """The active client carrying ``wanted``'s key under a previous owner's marker."""
    if not previous:
        return None
    for client in others:
        _, marker = parse(client.get("description"))
        if marker is not None and marker.key == wanted.key and marker.owner in previous:
            return client
    return None


def block_lookalikes(
    plan: EnvironmentPlan,
    wanted: DesiredClient,
    others: Iterable[dict[str, Any]],
    jwks: Mapping[str, list[dict[str, Any]]],
    owner: str,
) -> bool:
    """Block the create of ``wanted`` when a live client it would duplicate exists."""
    if wanted.create_new:
        return False
    kind = wanted.fields.get("integration_type")
    name = wanted.fields.get("client_name")
    kids = {str(k.get("kid")) for k in wanted.keys}
    blocked = False
    for client in others:
        cid = str(client.get("client_id"))
        label = f"{cid} ('{client.get('client_name') or ''}')"
        _, marker = parse(client.get("description"))
        if marker is not None and marker.owner != owner and marker.key == wanted.key:
            if (client.get("integration_type"), client.get("client_name")) != (kind, name):
                continue  # another team's client that only shares the key's name
            plan.blockers.append(
                f"client '{wanted.key}': no client carries owner '{owner}''s marker for it, "
                f"but {label} carries owner '{marker.owner}''s marker for the same key. If "
                f"this project's owner changed, add `previous_owners: [{marker.owner}]` to "
                f"selvsync.yaml: apply then adopts every such client under '{owner}' in one "
                f"step; otherwise {CREATE_NEW_HINT}"
            )
            blocked = True
            continue
        _, foreign = classify_owner(client.get("description"), owner)
        if foreign:
            continue
        shared = sorted(kids & {str(k.get("kid")) for k in jwks.get(cid, [])})
        same = kind is not None and name and client.get("integration_type") == kind
        if shared or (same and client.get("client_name") == name):
            why = (
                f"kid {', '.join(shared)} from its key file is registered on it"
                if shared
                else "same integration_type and client_name"
            )
            plan.blockers.append(
                f"client '{wanted.key}': no client carries its marker, but the unmarked "
                f"client {label} looks like it ({why}); its marker may have been lost. "
                f"Add `client_id: {cid}` to the client to adopt it, or {CREATE_NEW_HINT}"
            )
            blocked = True
    return blocked


def lookalike_ids(
    others: Iterable[Mapping[str, Any]], wanted: Iterable[DesiredClient], owner: str
) -> list[str]:
    """Unmarked clients whose key sets a plan reads to find look-alikes by kid: those of an
    integration_type some not-yet-existing declared client with keys has."""
    kinds = {c.fields.get("integration_type") for c in wanted if c.keys and not c.create_new}
    out = []
    for client in others:
        marker, foreign = classify_owner(client.get("description"), owner)
        if marker is None and not foreign and client.get("integration_type") in kinds:
            out.append(str(client.get("client_id")))
    return sorted(out)


def kept_note(live: Mapping[str, Any], ignore: Iterable[str]) -> list[str]:
    """A note naming the live fields an update sends back untouched, if any."""
    kept = kept_fields(live, ignore)
    if not kept:
        return []
    shown = ", ".join(kept[:_MAX_KEPT_SHOWN])
    more = f" and {len(kept) - _MAX_KEPT_SHOWN} more" if len(kept) > _MAX_KEPT_SHOWN else ""
    return [f"kept as Digdir holds them (not managed here): {shown}{more}"]


def move_keys(change: Change, old_keys: list[dict[str, Any]]) -> None:
    """A replace whose new client declares kids the old one holds: explain the ordering."""
    held = {str(k.get("kid")) for k in old_keys}
    moved = sorted(held & set(change.keys_added))
    if not moved or change.client_id is None:
        return
    change.keys_moved = moved
    change.keys_from = change.client_id
    kids = ", ".join(moved)
    change.notes.append(
        f"kid {kids} is registered on the old client, and Digdir holds a kid on one client "
        "only (a deactivated client keeps its kids). Apply creates the new client without "
        f"keys, removes {kids} from the old client, registers the keys on the new one, then "
        "deactivates the old one. Between removing and registering, and until Digdir's token "
        "service has the new registration (0-2 minutes), no client can sign with "
        f"{kids}. To avoid that window, give the new client a new key (`selvsync keygen`) "
        "and declare it instead"
    )


def finish_replace(
    plan: EnvironmentPlan,
    wanted: DesiredClient,
    current: Mapping[str, Any],
    old: Mapping[str, Any],
    live: Any,
) -> None:
    """The old client of a replace that did not finish: deactivate it, after its kids move."""
    old_id, new_id = str(old.get("client_id")), str(current.get("client_id"))
    _, marker = parse(old.get("description"))
    change = Change(
        plan.name,
        wanted.key,
        Action.DEACTIVATE,
        old_id,
        protected=bool(marker and marker.protected),
        notes=[
            f"left over from a replace that did not finish: '{wanted.key}' is now {new_id} "
            f"({current.get('integration_type')}); deactivating the old "
            f"{old.get('integration_type')} client completes it"
        ],
    )
    plan.changes.append(change)
    held = {str(k.get("kid")) for k in live.jwks.get(old_id, [])}
    for other in plan.changes:
        if other.key == wanted.key and other.action == Action.UPDATE_KEYS and other.jwks:
            moved = sorted(held & {str(k.get("kid")) for k in other.jwks})
            if moved:
                other.keys_moved, other.keys_from = moved, old_id
                other.notes.append(
                    f"kid {', '.join(moved)} is still registered on the old client {old_id}: "
                    "apply removes it there first"
                )


def link_successors(plan: EnvironmentPlan, by_id: Mapping[str, Mapping[str, Any]]) -> None:
    """A deactivation whose client a create in this plan looks like it replaces (same
    integration_type and client_name under another key) waits for that create."""
    creates = [c for c in plan.changes if c.action == Action.CREATE and c.body]
    for change in plan.changes:
        if change.action != Action.DEACTIVATE or change.successor or change.client_id is None:
            continue
        old = by_id.get(change.client_id)
        if old is None:
            continue
        for new in creates:
            assert new.body is not None
            if new.key == change.key:
                continue
            if (new.body.get("integration_type"), new.body.get("client_name")) == (
                old.get("integration_type"),
                old.get("client_name"),
            ):
                change.successor = new.key
                change.notes.append(
                    f"'{new.key}' looks like its successor (same integration_type and "
                    f"client_name): deactivated only once '{new.key}' exists with its keys "
                    f"and secret. To keep this client under the new key instead, add "
                    f"`renamed_from: {change.key}` to '{new.key}'"
                )
                break
