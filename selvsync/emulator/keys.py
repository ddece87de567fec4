"""Digdir's rules for a client's public key set (JWKS).

Error messages name fields and kids only: a private member's value is never repeated.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from .errors import ApiProblem, FieldError

MAX_KEYS = 5
MIN_RSA_BITS = 2048
KEY_LIFETIME = 365 * 24 * 3600
ALGORITHMS = frozenset({"RS256", "RS384", "RS512"})
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
PUBLIC_MEMBERS = frozenset({"kty", "alg", "use", "kid", "e", "n", "x5c", "x5t", "x5t#S256",
                            "key_ops"})
SERVER_MEMBERS = frozenset({"exp"})
KID_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
B64URL_PATTERN = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def _b64url_int(value: object) -> int | None:
    if not isinstance(value, str) or not B64URL_PATTERN.match(value):
        return None
    try:
        raw = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big")


def validate_jwks(body: object) -> list[dict[str, Any]]:
    """The public keys to store, with a posted ``exp`` kept as sent; ApiProblem(400) otherwise.

    ``stamp_expiry`` decides each key's final ``exp``. Kid uniqueness across clients needs the
    store and is checked there.
    """
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise ApiProblem(400, [FieldError('the body must be {"keys": [...]}', "keys")])
    keys: list[object] = body["keys"]
    errors: list[FieldError] = []
    if not keys:
        errors.append(FieldError("an empty key set is not accepted; use DELETE", "keys"))
    if len(keys) > MAX_KEYS:
        errors.append(FieldError(f"at most {MAX_KEYS} keys, got {len(keys)}", "keys"))
    stored: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, key in enumerate(keys):
        problems = _key_problems(key)
        kid = key.get("kid") if isinstance(key, dict) else None
        label = f"keys[{index}]" + (f" (kid {kid})" if isinstance(kid, str) else "")
        if isinstance(kid, str) and kid in seen:
            problems.append("kid is repeated in the set")
        errors.extend(FieldError(f"{label}: {p}", "keys") for p in problems)
        if not problems and isinstance(key, dict):
            seen.add(key["kid"])
            stored.append({k: v for k, v in key.items() if k in PUBLIC_MEMBERS | SERVER_MEMBERS})
    if errors:
        raise ApiProblem(400, errors)
    return stored


def _key_problems(key: object) -> list[str]:
    if not isinstance(key, dict):
        return ["must be a JSON object"]
    problems: list[str] = []
    private = sorted(PRIVATE_MEMBERS & key.keys())
    if private:
        problems.append(f"private key members are not accepted: {', '.join(private)}")
    unknown = sorted(key.keys() - PUBLIC_MEMBERS - PRIVATE_MEMBERS - SERVER_MEMBERS)
    if unknown:
        problems.append(f"unknown members: {', '.join(unknown)}")
    if key.get("kty") != "RSA":
        problems.append("kty must be RSA")
    if key.get("alg") not in ALGORITHMS:
        problems.append(f"alg must be one of {', '.join(sorted(ALGORITHMS))}")
    if key.get("use") != "sig":
        problems.append("use must be sig")
    kid = key.get("kid")
    if not isinstance(kid, str) or not KID_PATTERN.match(kid):
        problems.append("kid is required: letters, digits, '.', '_' and '-' only")
    exponent = _b64url_int(key.get("e"))
    if exponent is None or exponent < 3 or exponent % 2 == 0:
        problems.append("e must be a base64url-encoded odd exponent")
    exp = key.get("exp")
    if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int) or exp <= 0):
        problems.append("exp must be a Unix time in whole seconds")
    modulus = _b64url_int(key.get("n"))
    if modulus is None:
        problems.append("n must be a base64url-encoded modulus")
    elif modulus.bit_length() < MIN_RSA_BITS:
        problems.append(f"RSA keys need at least {MIN_RSA_BITS} bits, got {modulus.bit_length()}")
    return problems


def _material(key: dict[str, Any]) -> tuple[object, int | None, int | None]:
    return key.get("kty"), _b64url_int(key.get("e")), _b64url_int(key.get("n"))


def stamp_expiry(keys: list[dict[str, Any]], previous: list[dict[str, Any]],
                 now: float) -> list[dict[str, Any]]:
    """Give each key its ``exp`` the way Digdir has since 2022.

    A key already registered (same kid, same key material) keeps the ``exp`` it got when it
    was first posted: re-posting a set renews nothing. A new key gets the posted ``exp`` if
    there is one, capped at one year after now, else one year after now.
    """
    registered = {(k.get("kid"), _material(k)): k.get("exp") for k in previous}
    ceiling = int(now) + KEY_LIFETIME
    stamped = []
    for key in keys:
        kept = registered.get((key.get("kid"), _material(key)))
        posted = key.get("exp")
        if isinstance(kept, int):
            exp = kept
        elif isinstance(posted, int):
            exp = min(posted, ceiling)
        else:
            exp = ceiling
        stamped.append({**key, "exp": exp})
    return stamped
