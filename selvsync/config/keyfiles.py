"""Public keys referenced by clients (``keys:``): load them, check them against Digdir's rules,
and normalise them to the exact JWK members Digdir takes.

Accepted files: a JWKS (``{"keys": [...]}``) or a single JWK as JSON; a PEM public key; a PEM
X.509 certificate (its public key; in a chain, only the first certificate). PEM inputs become
``{kty: RSA, alg: RS256, use: sig, kid, e, n}`` with the RFC 7638 thumbprint as ``kid``:
deterministic, and unique across Digdir's customers without coordination.

Anything private (a JWK with ``d``, ``p``, … or a PEM PRIVATE KEY) is refused, and no message
ever contains key material: only member names, kids and sizes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from selvsync.errors import Diagnostic, Position
from selvsync.files import read_regular
from selvsync.rules import Locate

if TYPE_CHECKING:  # cryptography is imported when a key is checked (start-up time)
    from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "MAX_KEYS_PER_CLIENT",
    "check_client_keys",
    "check_kids_globally_unique",
    "jwk_thumbprint",
    "load_public_keys",
    "public_jwk_from_key",
]

MAX_KEYS_PER_CLIENT: Final = 5
MAX_KEY_FILE_BYTES: Final = 1024 * 1024
MIN_RSA_BITS: Final = 2048
ALGORITHMS: Final = ("RS256", "RS384", "RS512")
PUBLIC_MEMBERS: Final = ("kty", "alg", "use", "kid", "e", "n")  # what Digdir takes, in order
# RSA private members (RFC 7518 §6.3.2) and an oct key's secret "k".
_SECRET_MEMBERS: Final = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_KID: Final = re.compile(r"[A-Za-z0-9._-]+")
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_PEM_BLOCK: Final = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_NEVER_COMMIT: Final = "commit only the public key; run `selvsync keygen` to make a key pair"
_KEYGEN: Final = "run `selvsync keygen` for a 2048-bit RSA key"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint_b64url(value: int) -> str:
    """RFC 7518 Base64urlUInt: big-endian, no leading zero bytes, no padding."""
    return _b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint of an RSA JWK: base64url(SHA-256 of the canonical e/kty/n JSON)."""
    if (
        jwk.get("kty") != "RSA"
        or not isinstance(jwk.get("e"), str)
        or not isinstance(jwk.get("n"), str)
    ):
        raise ValueError("a thumbprint needs an RSA JWK with string members e and n")
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def public_jwk_from_key(public_key: rsa.RSAPublicKey, alg: str = "RS256") -> dict[str, Any]:
    """The JWK Digdir takes for ``public_key``, with the thumbprint as kid."""
    if alg not in ALGORITHMS:
        raise ValueError(f"alg must be one of {', '.join(ALGORITHMS)}")
    numbers = public_key.public_numbers()
    jwk: dict[str, Any] = {
        "kty": "RSA",
        "alg": alg,
        "use": "sig",
        "e": _uint_b64url(numbers.e),
        "n": _uint_b64url(numbers.n),
    }
    jwk["kid"] = jwk_thumbprint(jwk)
    return {member: jwk[member] for member in PUBLIC_MEMBERS}


# ---------------------------------------------------------------- loading


def load_public_keys(path: Path, *, display: str) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    """The valid public JWKs in ``path`` and a Diagnostic for every problem.

    Keys with problems are left out of the list; ``display`` names the file in positions.
    """
    start = Position(display, 1, 1)
    try:
        data = read_regular(path, limit=MAX_KEY_FILE_BYTES)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return [], [Diagnostic(start, "", f"cannot read key file: {reason}", "check the path")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = ""  # binary (e.g. DER): handled below as "not JSON or PEM"
    if text.lstrip().startswith("{"):
        return _load_json(text, display)
    if "-----BEGIN " in text:
        return _load_pem(text, display)
    return [], [
        Diagnostic(
            start,
            "",
            "not a JWKS/JWK JSON file, a PEM public key or a PEM certificate",
            "export the public key as PEM (-----BEGIN PUBLIC KEY-----) or JWKS JSON",
        )
    ]


def _load_json(text: str, display: str) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    try:
        document = json.loads(text)
    except RecursionError:
        return [], [Diagnostic(Position(display, 1, 1), "", "invalid JSON: nested too deeply")]
    except ValueError as exc:
        if not isinstance(exc, json.JSONDecodeError):  # e.g. an integer of 5000 digits
            return [], [Diagnostic(Position(display, 1, 1), "", f"invalid JSON: {exc}")]
        # exc.msg names the syntax error only; the document itself is never quoted.
        where = Position(display, exc.lineno, exc.colno)
        return [], [Diagnostic(where, "", f"invalid JSON: {exc.msg}", "fix the JSON syntax")]
    start = Position(display, 1, 1)
    if isinstance(document, dict) and "keys" in document:
        entries = document["keys"]
        if not isinstance(entries, list) or not entries:
            hint = 'list at least one public key: {"keys": [{...}]}'
            return [], [Diagnostic(start, "keys", "keys must be a non-empty list", hint)]
        fields = [f"keys[{i}]" for i in range(len(entries))]
    elif isinstance(document, dict) and "kty" in document:
        entries, fields = [document], [""]
    else:
        hint = 'write a JWKS ({"keys": [...]}) or a single JWK object'
        return [], [Diagnostic(start, "", "neither a JWKS nor a JWK", hint)]
    positions = _entry_positions(text, display, len(entries))
    keys: list[dict[str, Any]] = []
    problems: list[Diagnostic] = []
    for entry, field, position in zip(entries, fields, positions, strict=True):
        jwk, found = _check_jwk(entry, position, field)
        problems += found
        if jwk is not None:
            keys.append(jwk)
    return keys, problems


def _entry_positions(text: str, display: str, count: int) -> list[Position]:
    """Where each key object starts: the "{" before its i-th "kty". Good enough for files a
    tool wrote; when the count does not match (a key without kty), every key gets line 1."""
    starts = [m.start() for m in re.finditer(r'"kty"\s*:', text)]
    if len(starts) != count:
        return [Position(display, 1, 1)] * count
    positions = []
    for offset in starts:
        brace = text.rfind("{", 0, offset)
        offset = brace if brace >= 0 else offset
        line = text.count("\n", 0, offset) + 1
        positions.append(Position(display, line, offset - text.rfind("\n", 0, offset)))
    return positions


def _check_jwk(
    entry: object, position: Position, field: str
) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """The normalised public JWK (None if anything is wrong) and its problems."""
    if not isinstance(entry, dict):
        return None, [Diagnostic(position, field, "a key must be a JSON object", "write {...}")]
    secret = [m for m in _SECRET_MEMBERS if m in entry]
    if secret:
        # Name the members, never their values; nothing else is checked on such a key.
        message = f"contains private key material ({', '.join(secret)}); refused"
        return None, [Diagnostic(position, field, message, _NEVER_COMMIT)]
    kty, alg, kid = entry.get("kty"), entry.get("alg"), entry.get("kid")
    problems = _member_problems(entry)
    numbers = _rsa_numbers(entry, problems) if kty == "RSA" else None
    kid_hint = "use letters, digits, '.', '_' and '-'"
    if numbers is not None:
        kid_hint += f", e.g. the key's thumbprint {_thumbprint_of(numbers)}"
    if not isinstance(kid, str) or not kid:
        problems.append(("kid is missing", kid_hint))
    elif not _KID.fullmatch(kid):
        problems.append((f"kid {_show(kid)} has characters Digdir refuses", kid_hint))
    label = f" (kid {kid})" if isinstance(kid, str) and _KID.fullmatch(kid) else ""
    found = [_diag(position, field, problem, label) for problem in problems]
    if found or numbers is None or not isinstance(kid, str):
        return None, found
    jwk = {"kty": "RSA", "alg": alg, "use": "sig", "kid": kid}
    jwk |= {"e": _uint_b64url(numbers.e), "n": _uint_b64url(numbers.n)}
    return jwk, []


def _member_problems(entry: Mapping[str, Any]) -> list[str | tuple[str, str]]:
    """Problems with kty, alg and use: the members Digdir requires besides kid, n and e."""
    kty, alg, use = entry.get("kty"), entry.get("alg"), entry.get("use")
    problems: list[str | tuple[str, str]] = []
    if kty != "RSA":
        problems.append((f"kty must be RSA, not {_show(kty)}", f"Digdir takes RSA keys; {_KEYGEN}"))
    if alg is None:
        problems.append(("alg is missing", 'add "alg": "RS256"'))
    elif alg not in ALGORITHMS:
        problems.append(
            (f"alg {_show(alg)} is not accepted by Digdir", "use RS256 (or RS384, RS512)")
        )
    if use is None:
        problems.append(("use is missing", 'add "use": "sig" (required by Digdir since May 2025)'))
    elif use != "sig":
        problems.append((f"use must be sig, not {_show(use)}", 'set "use": "sig"'))
    return problems


def _diag(position: Position, field: str, problem: str | tuple[str, str], label: str) -> Diagnostic:
    message, hint = problem if isinstance(problem, tuple) else (problem, "")
    return Diagnostic(position, field, message + label, hint or _KEYGEN)


def _show(value: object) -> str:
    """A short, safe rendering of a public member's value for a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _rsa_numbers(
    entry: Mapping[str, Any], problems: list[str | tuple[str, str]]
) -> rsa.RSAPublicNumbers | None:
    """n and e as numbers, checked to form a real RSA key of at least 2048 bits."""
    values = {}
    for member in ("n", "e"):
        raw = entry.get(member)
        if not isinstance(raw, str) or not _B64URL.fullmatch(raw):
            hint = "encode it as base64url (RFC 7518 §6.3.1), or export the key again"
            problems.append((f"{member} is missing or not base64url", hint))
            continue
        bare = raw.rstrip("=")
        try:
            decoded = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
        except binascii.Error:  # e.g. a length no encoder produces
            problems.append((f"{member} is not valid base64url", "export the key again"))
            continue
        values[member] = int.from_bytes(decoded, "big")
    if len(values) != 2:
        return None
    from cryptography.hazmat.primitives.asymmetric import rsa

    numbers = rsa.RSAPublicNumbers(values["e"], values["n"])
    try:
        numbers.public_key()
    except ValueError:
        problems.append("n and e do not form a valid RSA public key")
        return None
    if values["n"].bit_length() < MIN_RSA_BITS:
        bits = values["n"].bit_length()
        problems.append(f"the RSA key has {bits} bits; Digdir requires at least {MIN_RSA_BITS}")
        return None
    return numbers


def _thumbprint_of(numbers: rsa.RSAPublicNumbers) -> str:
    return jwk_thumbprint(
        {"kty": "RSA", "e": _uint_b64url(numbers.e), "n": _uint_b64url(numbers.n)}
    )


def _load_pem(text: str, display: str) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    blocks = [(m.group(1), text.count("\n", 0, m.start()) + 1) for m in _PEM_BLOCK.finditer(text)]
    private = [line for label, line in blocks if "PRIVATE KEY" in label]
    if private:
        # Refuse the whole file: it is a private key that must not be in the repository at all.
        where = Position(display, private[0], 1)
        return [], [Diagnostic(where, "", "contains a private key; refused", _NEVER_COMMIT)]
    if not blocks:
        hint = "export the public key as PEM (-----BEGIN PUBLIC KEY-----)"
        return [], [Diagnostic(Position(display, 1, 1), "", "no PEM block found", hint)]
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    label, line = blocks[0]
    where = Position(display, line, 1)
    try:
        if label in ("PUBLIC KEY", "RSA PUBLIC KEY"):
            key: Any = serialization.load_pem_public_key(text.encode())
        elif label == "CERTIFICATE":
            # The first certificate is the holder's; the rest of a chain are CAs, not client keys.
            key = x509.load_pem_x509_certificates(text.encode())[0].public_key()
        else:
            hint = "use a PEM PUBLIC KEY or CERTIFICATE"
            return [], [Diagnostic(where, "", f"unsupported PEM block {label!r}", hint)]
    except ValueError:
        hint = "export it again, e.g. openssl x509 -pubkey -noout -in cert.pem"
        return [], [Diagnostic(where, "", f"the PEM {label.lower()} cannot be read", hint)]
    if not isinstance(key, rsa.RSAPublicKey):
        message = f"only RSA keys are accepted, not {type(key).__name__}"
        return [], [Diagnostic(where, "", message, f"Digdir takes RSA keys; {_KEYGEN}")]
    if key.key_size < MIN_RSA_BITS:
        message = f"the RSA key has {key.key_size} bits; Digdir requires at least {MIN_RSA_BITS}"
        return [], [Diagnostic(where, "", message, _KEYGEN)]
    return [public_jwk_from_key(key)], []


# ---------------------------------------------------------------- sets of keys


def check_client_keys(
    keys: Sequence[Mapping[str, Any]], *, locate: Locate, field: str
) -> list[Diagnostic]:
    """One client's key set: at most 5 keys, each kid and each key only once.

    ``field`` is the client's keys field (``clients.app.keys``); ``locate(())`` its position.
    """
    where = locate(())
    found: list[Diagnostic] = []
    if len(keys) > MAX_KEYS_PER_CLIENT:
        found.append(
            Diagnostic(
                where,
                field,
                f"{len(keys)} keys; Digdir accepts at most {MAX_KEYS_PER_CLIENT} per client",
                "remove retired keys; during a rotation only the old and the new key are needed",
            )
        )
    for member, what in (("kid", "kid"), ("n", "public key")):
        seen: dict[str, int] = {}
        for i, key in enumerate(keys):
            value = key.get(member)
            if not isinstance(value, str):
                continue
            if value in seen:
                shown = f" {key.get('kid')}" if member == "kid" else ""
                message = f"{what}{shown} appears twice (keys {seen[value]} and {i})"
                hint = "give each key its own kid" if member == "kid" else "list each key once"
                found.append(Diagnostic(where, field, message, hint))
            seen.setdefault(value, i)
    return found


def check_kids_globally_unique(
    entries: Sequence[tuple[str, Mapping[str, Any], Position | None]],
) -> list[Diagnostic]:
    """A kid used by more than one client. Digdir's docs disagree on whether kids are unique
    per client or across all customers; selvsync assumes the stricter reading. Call it once
    per Digdir environment with (client key, jwk, position of that client's keys)."""
    clients_by_kid: dict[str, set[str]] = defaultdict(set)
    for client, jwk, _ in entries:
        if isinstance(kid := jwk.get("kid"), str):
            clients_by_kid[kid].add(client)
    found: list[Diagnostic] = []
    reported: set[tuple[str, str]] = set()
    for client, jwk, position in entries:
        kid = jwk.get("kid")
        if not isinstance(kid, str) or len(clients_by_kid[kid]) < 2 or (client, kid) in reported:
            continue
        reported.add((client, kid))
        others = ", ".join(sorted(clients_by_kid[kid] - {client}))
        found.append(
            Diagnostic(
                position,
                f"clients.{client}.keys",
                f"kid {kid} is also used by client {others}; kids must be unique at Digdir",
                "give each client its own key pair (`selvsync keygen` uses the thumbprint as kid)",
            )
        )
    return found
