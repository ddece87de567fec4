"""PUT bodies that never lose what Digdir holds. Pure.

Digdir treats ``PUT /clients/{id}`` as a full replace, adds fields over time, and its own
portal updates a client by reading it, overlaying its form and sending the whole object back.
selvsync does the same: the body of every PUT of an existing client (update, adopt, rename,
the marker rewrites after a rotation or a merchant confirmation) is

    the live client, without the fields the server sets,
    minus the fields selvsync manages and the YAML omits (they go back to Digdir's default),
    plus the declared fields (the description with selvsync's marker),

so a field selvsync does not know (``backchannel_logout_uri``, next year's field) or is told
to leave alone (``ignore:``, fields the portal owns) goes back exactly as Digdir sent it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from selvsync.rules.fields import READ_ONLY, WRITABLE_FIELDS

# Set by the server, never sent: the catalogue's read-only fields plus what only appears in
# responses (the secret, the server-decided logout flag, the onbehalfof entries, which have
# their own endpoints).
SERVER_SET: Final = frozenset(READ_ONLY) | frozenset(
    {"client_id", "client_secret", "backchannel_logout_session_required", "onbehalfof"}
)
# Never ignorable: the marker lives in the description; integration_type cannot change.
NEVER_IGNORED: Final = frozenset({"description", "integration_type"})


def passthrough(live: Mapping[str, Any]) -> dict[str, Any]:
    """The live client as a PUT body: everything except the fields the server sets."""
    return {k: v for k, v in live.items() if k not in SERVER_SET and v is not None}


def put_body(
    live: Mapping[str, Any], declared: Mapping[str, Any], ignore: Iterable[str] = ()
) -> dict[str, Any]:
    """The body that turns ``live`` into ``declared`` and keeps everything else.

    ``declared`` is the declared body (writable fields, description with the marker). A field
    selvsync manages and the YAML omits is left out, so Digdir applies its default, exactly
    as on create; an ignored field keeps its live value whatever the YAML says."""
    skip = frozenset(ignore) - NEVER_IGNORED
    out = passthrough(live)
    for name in WRITABLE_FIELDS:
        if name not in skip:
            out.pop(name, None)
    for name, value in declared.items():
        if name not in skip:
            out[name] = value
    return out


def kept_fields(live: Mapping[str, Any], ignore: Iterable[str] = ()) -> list[str]:
    """The live fields a PUT carries back untouched: unknown to selvsync, or ignored."""
    skip = frozenset(ignore) - NEVER_IGNORED
    return sorted(
        k
        for k, v in live.items()
        if v is not None and k not in SERVER_SET and (k not in WRITABLE_FIELDS or k in skip)
    )
