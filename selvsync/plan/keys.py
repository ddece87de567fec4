"""Key-set decisions: what to register so that a rotation never locks anyone out.

Digdir replaces a client's whole key set on every write, a new key takes minutes to be accepted
at the token endpoint, keys expire one year after posting, and a client holds at most five.
So a rotation is two steps, decided from live state alone (no state file):

1. New keys are registered *together with* the old ones (as many old ones as fit in five).
2. A later run removes the old keys, once every declared key has been registered for at least
   the propagation time (posting time = ``exp`` minus one year).

Expiry is per key, as the API returns it (``exp``). Since 2022 Digdir does not renew a key
when a set is posted again: each key keeps the ``exp`` it got when first posted. So nothing
here ever re-posts an unchanged set to "renew" it; the only renewal is a new key, registered
beside the old one by the rotation above. ``renew`` (``--renew-keys``) only makes the plan say
so for each expiring key.

Reading key sets is the only per-client request of a plan, so a plan reads one only where it
may matter: apply records the set it registered in the client's marker (``j=``: a digest of
the keys and the date the earliest expires, :func:`mark`), and a client whose marker shows
exactly the declared keys, none expiring within the warning window, is not read
(:func:`vouched`). ``plan --refresh`` (and the scheduled drift check, which uses it) reads
every declared key set, so keys changed in the portal are still found there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_KEYS = 5
KEY_LIFETIME = 365 * 24 * 3600


@dataclass
class KeyDecision:
    upload: list[dict[str, Any]] | None = None  # the full set to register; None: no write
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _material(jwk: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(jwk.get(k)) for k in ("kid", "kty", "alg", "use", "e", "n"))


def set_digest(keys: Iterable[Mapping[str, Any]]) -> str:
    """A short digest of a key set's material (kid, kty, alg, use, e, n), in any order."""
    text = "\n".join(sorted("|".join(_material(k)) for k in keys))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def mark(registered: Sequence[Mapping[str, Any]]) -> str:
    """The marker's ``j=`` value for a key set as the API answered its write: the digest,
    then the UTC date the earliest key expires (rounded down; left out if a key has no
    ``exp``, and then every plan reads the set)."""
    digest = set_digest(registered)
    exps = [k.get("exp") for k in registered]
    if registered and all(isinstance(e, int | float) for e in exps):
        earliest = min(float(e) for e in exps)  # type: ignore[arg-type]
        return f"{digest}.{datetime.fromtimestamp(earliest, UTC):%Y%m%d}"
    return digest


def vouched(
    recorded: str | None,
    declared: Sequence[Mapping[str, Any]],
    *,
    now: float,
    expiry_warning_days: int,
) -> bool:
    """Whether a marker's ``j=`` shows that the live key set is exactly ``declared`` and that
    no key expires within the warning window: then a plan need not read the key set (its
    decision would be "nothing to do", with no warning)."""
    if not recorded or not declared:
        return False
    digest, _, day = recorded.partition(".")
    if digest != set_digest(declared):
        return False
    try:
        earliest = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return False  # no expiry recorded: read it
    return earliest - now >= expiry_warning_days * 86400


def _public(jwk: Mapping[str, Any]) -> dict[str, Any]:
    return {k: jwk[k] for k in ("kty", "alg", "use", "kid", "e", "n") if k in jwk}


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def decide(
    declared: Sequence[Mapping[str, Any]],
    live: Sequence[Mapping[str, Any]],
    *,
    now: float,
    propagation_seconds: float,
    expiry_warning_days: int,
    renew: bool = False,
) -> KeyDecision:
    decision = KeyDecision()
    wanted = {_material(k): k for k in declared}
    have = {_material(k): k for k in live}
    new = [k for m, k in wanted.items() if m not in have]
    stale = [k for m, k in have.items() if m not in wanted]

    expiring = _expiring(live, wanted, now, expiry_warning_days)
    for jwk, exp in expiring:
        decision.warnings.append(_expiry_warning(jwk, exp, now))

    if new:
        # Step 1: add, keeping the newest old keys that fit, so tokens keep working meanwhile.
        _add_keys(decision, wanted, new, stale)
        return decision

    if stale:
        ready_at = _propagated_at(live, wanted, propagation_seconds)
        if ready_at is not None and ready_at > now:
            decision.notes.append(
                "removal of "
                + ", ".join(sorted(str(k.get("kid")) for k in stale))
                + f" waits until {_when(ready_at)}, when the new keys have propagated"
            )
            return decision
        decision.upload = [_public(k) for k in wanted.values()]
        decision.removed = sorted(str(k.get("kid")) for k in stale)
        return decision

    if renew and expiring:
        decision.notes.append(
            "--renew-keys re-posts nothing: Digdir keeps each key's exp when a set is posted "
            "again, so renewing means a new key: `selvsync keygen`, declare the new public key "
            "beside the expiring one, and apply (the old key is removed once the new one has "
            "propagated)"
        )
    return decision


def _expiry_warning(jwk: Mapping[str, Any], exp: float, now: float) -> str:
    kid = jwk.get("kid")
    if exp <= now:
        head = f"key {kid} expired {_when(exp)}"
    else:
        head = f"key {kid} expires {_when(exp)} (in {int((exp - now) // 86400)} days)"
    return (
        f"{head}; posting it again does not renew it at Digdir: add a new key "
        "(`selvsync keygen`) beside it, and the old one is removed once the new one has "
        "propagated"
    )


def _add_keys(
    decision: KeyDecision,
    wanted: Mapping[tuple[str, ...], Mapping[str, Any]],
    new: list[Mapping[str, Any]],
    stale: list[Mapping[str, Any]],
) -> None:
    """Step 1 of a rotation: the declared keys plus as many old ones as fit in MAX_KEYS."""
    room = max(0, MAX_KEYS - len(wanted))
    kept = sorted(stale, key=lambda k: -float(k.get("exp") or 0))[:room]
    dropped = [k for k in stale if k not in kept]
    decision.upload = [_public(k) for k in wanted.values()] + [_public(k) for k in kept]
    decision.added = sorted(str(k.get("kid")) for k in new)
    decision.removed = sorted(str(k.get("kid")) for k in dropped)
    if kept:
        decision.notes.append(
            "old keys "
            + ", ".join(sorted(str(k.get("kid")) for k in kept))
            + " stay registered next to the new ones until the new ones have propagated "
            "(Digdir needs minutes); a later apply removes them"
        )
    if dropped:
        decision.notes.append(
            f"a client holds at most {MAX_KEYS} keys: "
            + ", ".join(decision.removed)
            + " must be removed now"
        )


def _expiring(
    live: Sequence[Mapping[str, Any]], wanted: Mapping[tuple[str, ...], Any], now: float, days: int
) -> list[tuple[Mapping[str, Any], float]]:
    out = []
    for jwk in live:
        exp = jwk.get("exp")
        if isinstance(exp, int | float) and _material(jwk) in wanted and exp - now < days * 86400:
            out.append((jwk, float(exp)))
    return out


def _propagated_at(
    live: Sequence[Mapping[str, Any]],
    wanted: Mapping[tuple[str, ...], Any],
    propagation_seconds: float,
) -> float | None:
    """When the most recently posted declared key has propagated, or None if unknown."""
    posted = [
        float(k["exp"]) - KEY_LIFETIME
        for k in live
        if _material(k) in wanted and isinstance(k.get("exp"), int | float)
    ]
    return max(posted) + propagation_seconds if posted else None
