"""When the plan proposes ``rotate-secret``: the reasons, each with the note that says why.

* The marker says a secret is pending (``s=1``): apply asked Digdir for a secret and never saw
  it stored (the sink failed, or the process was killed between Digdir's answer and the
  sink). The secret is lost until a rotation reaches the sink.
* ``token_endpoint_auth_method`` changes to a client secret method: Digdir's update answer is
  not where selvsync looks for a secret, so a rotation after the update puts one in the sink.
* The secret is older than ``secret_max_age_days``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from selvsync.marker import parse
from selvsync.rules.fields import SECRET_METHODS


def rotation_reason(
    live_client: Mapping[str, Any], body: Mapping[str, Any], max_age: int, now: float
) -> str | None:
    """Why the secret of this live client must be rotated by this plan, or None."""
    after = body.get("token_endpoint_auth_method")
    if after not in SECRET_METHODS:
        return None
    before = live_client.get("token_endpoint_auth_method")
    _, marker = parse(live_client.get("description"))
    if marker is not None and marker.secret_pending:
        return (
            "a secret Digdir issued earlier never reached the secret sink (the sink failed or "
            "apply was stopped in between); a new one is issued and stored"
        )
    if before not in SECRET_METHODS:
        return (
            f"token_endpoint_auth_method changes from {before} to {after}: a new secret is "
            "issued after the update and goes to the secret sink"
        )
    issued = (marker.rotated if marker else None) or str(live_client.get("created") or "")[:10]
    try:
        issued_at = datetime.strptime(issued, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None  # no known issue date: nothing to judge by
    age = (datetime.fromtimestamp(now, UTC) - issued_at).days
    if age < max_age:
        return None
    return (
        f"the secret was issued {issued} ({age} days ago; limit {max_age}); the new one "
        "goes to the secret sink and the old one keeps working about 30 minutes"
    )
