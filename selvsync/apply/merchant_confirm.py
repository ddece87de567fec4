"""`selvsync merchant confirm`: record that a person entered the merchant data in the portal.

The confirmation is a digest of the declared data, kept in the client's marker (``m=``), so it
survives with no state file and is invalidated by any later change to the YAML. The PUT carries
the live client's own fields with only the description changed: a confirmation must never
apply unrelated changes behind a plan.
"""

from __future__ import annotations

from collections.abc import Sequence

from selvsync.errors import SelvsyncError
from selvsync.live.session import Session
from selvsync.marker import compose, index_managed, parse
from selvsync.plan import merchant as merchantplan
from selvsync.plan.lossless import passthrough


def confirm_merchant(session: Session, env: str, keys: Sequence[str] = ()) -> list[str]:
    """Confirm the declared merchant data of ``keys`` (default: every managed client that has
    some); returns the keys whose marker was written."""
    state = session.project.states[env]
    if state.environment.merchant_api:
        raise SelvsyncError(
            f"{env}: this environment has a merchant-data API; `selvsync apply` writes merchant "
            "data there, nothing needs confirming"
        )
    unknown = [k for k in keys if k not in state.clients]
    if unknown:
        raise SelvsyncError(f"{env}: no declared client named {', '.join(unknown)}")
    wanted = set(keys) or {
        k for k, c in state.clients.items() if c.merchant is not None and not c.merchant.empty
    }
    client = session.client(env)
    owner = session.project.owner
    confirmed: list[str] = []
    for key, group in index_managed(client.list_clients(), owner).items():
        if key not in wanted:
            continue
        declared = state.clients[key].merchant
        if declared is None or declared.empty:
            raise SelvsyncError(f"{env}: '{key}' declares no merchant data to confirm")
        digest = merchantplan.digest(declared)
        for live in group:
            human, marker = parse(live.get("description"))
            if marker is None or marker.merchant_digest == digest:
                continue
            body = passthrough(live)  # every field as Digdir holds it, unknown ones too
            body["description"] = compose(human, marker.with_(merchant_digest=digest))
            client.update_client(str(live["client_id"]), body)
        confirmed.append(key)
    missing = sorted(wanted - set(confirmed))
    if missing:
        raise SelvsyncError(
            f"{env}: {', '.join(missing)} not found live; run `selvsync apply` first "
            f"(confirmed: {', '.join(sorted(confirmed)) or 'none'})"
        )
    return sorted(confirmed)
