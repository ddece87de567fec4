"""`selvsync keygen`: a key pair for a client. The public JWK goes under keys/ in the project;
the private key never does (a file with mode 0600 outside the project, or stdout for piping
into a secret store)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from selvsync.config.keyfiles import jwk_thumbprint, public_jwk_from_key
from selvsync.errors import SelvsyncError, UsageError
from selvsync.files import PRIVATE_MODE, atomic_write, read_regular
from selvsync.plan.keys import MAX_KEYS


@dataclass(frozen=True)
class GeneratedKey:
    kid: str
    public_path: Path
    private_pem: bytes  # hand to write_private() or stdout; never log it
    keys_in_file: int


# The same rule as a client key in environment files (schemas/environment.schema.json): the
# key names a file under keys/, so no path separators, no "..", nothing hidden.
_KEY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def check_key_name(key: str) -> None:
    if not _KEY_NAME.fullmatch(key):
        raise UsageError(
            f"'{key}' is not a client key: use 1-40 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit (the key under `clients:`)"
        )


def generate(project_root: Path, key: str, *, bits: int = 3072) -> GeneratedKey:
    """Create a key pair and add its public half to keys/<key>.jwks.json (kept, not replaced,
    so a rotation registers the new key next to the old one)."""
    check_key_name(key)
    if bits < 2048:
        raise UsageError("Digdir needs RSA keys of at least 2048 bits")
    path = project_root / "keys" / f"{key}.jwks.json"
    existing: list[dict[str, object]] = []
    if path.exists():
        try:
            data = json.loads(read_regular(path, limit=1024 * 1024).decode("utf-8"))
            existing = list(data["keys"])
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise SelvsyncError(
                f"{path}: not a JWKS file ({type(exc).__name__}); move it away or fix it first"
            ) from None
    if len(existing) >= MAX_KEYS:
        raise SelvsyncError(
            f"{path} already holds {MAX_KEYS} keys, Digdir's maximum; remove an old one first"
        )
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    jwk = public_jwk_from_key(private.public_key())
    # The key name in the kid tells people which client a kid belongs to; the thumbprint part
    # keeps it globally unique, as Digdir requires.
    jwk["kid"] = f"{key}-{jwk_thumbprint(jwk)[:16]}"
    ordered = {k: jwk[k] for k in ("kty", "alg", "use", "kid", "e", "n")}
    text = json.dumps({"keys": [*existing, ordered]}, indent=2) + "\n"
    atomic_write(path, text, create_parents=True)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return GeneratedKey(str(ordered["kid"]), path, pem, len(existing) + 1)


def check_private_target(project_root: Path, target: Path, *, force: bool) -> None:
    """Refuse targets inside the project (they would end up in git) or that already exist."""
    resolved = target.expanduser().resolve()
    if resolved.is_relative_to(project_root.resolve()):
        raise UsageError(
            f"{target} is inside the project: private keys never enter the "
            "repository; write it elsewhere, or use --out - to pipe it"
        )
    if resolved.exists() and not force:
        raise UsageError(f"{target} exists; pass --force to overwrite it")


def write_private(target: Path, pem: bytes) -> None:
    atomic_write(target, pem, mode=PRIVATE_MODE, create_parents=True)
