"""What is live, per environment, for ``selvsync list`` and ``selvsync output``. Read-only.

One row per live client (deactivated ones included, classed ``inactive``): its key when it
carries our marker, ownership class, integration type, name, the earliest expiry of its
registered keys and the age of its client secret. Key sets are read only for active clients
that authenticate with ``private_key_jwt`` (one GET each); nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from selvsync.live.read import read_jwks
from selvsync.live.session import Session
from selvsync.marker import Ownership, classify_owner, parse
from selvsync.rules.fields import SECRET_METHODS


@dataclass(frozen=True)
class Row:
    environment: str
    key: str | None
    client_id: str
    ownership: str  # managed, orphaned, foreign, unmarked, inactive
    integration_type: str | None
    client_name: str | None
    auth_method: str | None
    key_expiry: str | None  # earliest registered key's expiry, YYYY-MM-DD
    secret_age_days: int | None
    secret_pending: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "key": self.key,
            "client_id": self.client_id,
            "ownership": self.ownership,
            "integration_type": self.integration_type,
            "client_name": self.client_name,
            "token_endpoint_auth_method": self.auth_method,
            "key_expiry": self.key_expiry,
            "secret_age_days": self.secret_age_days,
            "secret_pending": self.secret_pending,
        }


def inventory(session: Session, now: float) -> list[Row]:
    rows: list[Row] = []
    project = session.project
    for name in project.states:
        listing = session.listing(name)
        declared = set(project.states[name].clients)
        keyed = [
            str(c.get("client_id"))
            for c in listing
            if c.get("active") is not False
            and c.get("token_endpoint_auth_method") == "private_key_jwt"
        ]
        jwks = read_jwks(session.client(name), keyed, project.environments[name].concurrency)
        for client in listing:
            rows.append(_row(name, client, project.owner, declared, jwks, now))
    return rows


def _row(
    env: str,
    client: dict[str, Any],
    owner: str,
    declared: set[str],
    jwks: dict[str, list[dict[str, Any]]],
    now: float,
) -> Row:
    cid = str(client.get("client_id"))
    marker, foreign = classify_owner(client.get("description"), owner)
    if client.get("active") is False:
        ownership = "inactive"
    elif marker is not None:
        ownership = str(Ownership.MANAGED if marker.key in declared else Ownership.ORPHANED)
    else:
        ownership = str(Ownership.FOREIGN if foreign else Ownership.UNMARKED)
    exps = [k["exp"] for k in jwks.get(cid, []) if isinstance(k.get("exp"), int | float)]
    expiry = datetime.fromtimestamp(min(exps), UTC).strftime("%Y-%m-%d") if exps else None
    method = client.get("token_endpoint_auth_method")
    return Row(
        environment=env,
        key=marker.key if marker is not None else None,
        client_id=cid,
        ownership=ownership,
        integration_type=client.get("integration_type"),
        client_name=client.get("client_name"),
        auth_method=method,
        key_expiry=expiry,
        secret_age_days=_secret_age(client, now) if method in SECRET_METHODS else None,
        secret_pending=bool(marker and marker.secret_pending),
    )


def _secret_age(client: dict[str, Any], now: float) -> int | None:
    _, marker = parse(client.get("description"))
    issued = (marker.rotated if marker else None) or str(client.get("created") or "")[:10]
    try:
        at = datetime.strptime(issued, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return (datetime.fromtimestamp(now, UTC) - at).days


def declared_client_ids(session: Session) -> dict[str, dict[str, str | None]]:
    """``selvsync output``: each declared key to its live client_id (None: not created yet)."""
    out: dict[str, dict[str, str | None]] = {}
    project = session.project
    for name, state in project.states.items():
        ours: dict[str, str] = {}
        by_id = set()
        for client in session.listing(name):
            if client.get("active") is False:
                continue
            by_id.add(str(client.get("client_id")))
            marker, _ = classify_owner(client.get("description"), project.owner)
            if marker is not None:
                ours.setdefault(marker.key, str(client.get("client_id")))
        env: dict[str, str | None] = {}
        for key, wanted in sorted(state.clients.items()):
            cid = ours.get(key)
            if cid is None and wanted.client_id and wanted.client_id in by_id:
                cid = wanted.client_id  # declared for adoption, not adopted yet
            env[key] = cid
        out[name] = env
    return out
