"""Secret values: a wrapper that keeps them out of text, and safe ways to read them.

``client_secret`` values (returned once by create and rotate) and other credentials
travel through selvsync as :class:`Secret`. Formatting one in any way (``str``,
``repr``, f-strings, ``%``, logging) yields ``(sensitive)``; only :meth:`Secret.reveal`
gives the value, so every place that really needs it is easy to find with grep.
Pickling refuses, and ``json.dumps`` refuses as it does for any unknown object.

Secret material enters selvsync only from environment variables and files. The loaders
below refuse private-key files that group or others can read, and turn every failure
into a :class:`~selvsync.api.errors.CredentialsError` that names the file or variable.
"""

from __future__ import annotations

import base64
import hmac
import os
import stat
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from selvsync.api.errors import CredentialsError
from selvsync.sensitive import redact

RsaKey = rsa.RSAPrivateKey

_MASK = "(sensitive)"


class Secret:
    """An immutable secret string that does not print itself."""

    __slots__ = ("_value",)

    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)
        # Whatever learns a secret also teaches the redactor, so a copy that escapes
        # through some other path is still scrubbed from logs and errors.
        redact.register(value)

    def reveal(self) -> str:
        """The secret value. Call only where the value must leave the process."""
        return self._value

    def __str__(self) -> str:
        return _MASK

    def __repr__(self) -> str:
        return f"Secret({_MASK})"

    def __format__(self, format_spec: str) -> str:
        return format(_MASK, format_spec)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time, so comparing secrets leaks nothing through timing.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    # Immutable, so copies may share the instance; this also keeps copy/deepcopy away
    # from __reduce_ex__, which refuses below.
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; call .reveal() where you mean to store it")

    def __getstate__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; call .reveal() where you mean to store it")


def secret_from_env(environ: Mapping[str, str], name: str, purpose: str) -> Secret:
    """The value of environment variable ``name``, or a CredentialsError saying what it is for."""
    value = environ.get(name)
    if not value:
        raise CredentialsError(f"environment variable {name} ({purpose}) is not set or empty")
    return Secret(value)


def check_private_file(path: Path) -> None:
    """Refuse a private-key file that anyone but its owner can read or write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CredentialsError(f"{path}: file not found") from None
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read ({exc.strerror})") from None
    # POSIX permission bits mean nothing useful on Windows; ACLs guard files there.
    if os.name != "nt" and mode & 0o077:
        raise CredentialsError(
            f"{path} is accessible by group or others (mode {stat.S_IMODE(mode):o}); a private "
            f"key must be readable by its owner only: chmod 600 {path}"
        )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read ({exc.strerror})") from None


def _rsa(key: object, path: Path) -> RsaKey:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialsError(f"{path}: the private key must be RSA (Maskinporten wants RS256)")
    if key.key_size < 2048:
        raise CredentialsError(f"{path}: the RSA key has {key.key_size} bits; 2048 or more needed")
    return key


def _password(password: Secret | None) -> bytes | None:
    return password.reveal().encode() if password is not None else None


def load_private_key(path: Path, password: Secret | None = None) -> RsaKey:
    """An RSA private key from a PEM file private to its owner."""
    check_private_file(path)
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, _password(password))
    except TypeError:
        # cryptography says TypeError for "encrypted but no password" and the reverse.
        hint = "set password_env" if password is None else "it is not encrypted; drop password_env"
        raise CredentialsError(f"{path}: cannot load the private key ({hint})") from None
    except ValueError:
        raise CredentialsError(
            f"{path}: not a PEM private key, or the password is wrong"
        ) from None
    return _rsa(key, path)


def _same_key(cert: x509.Certificate, key: RsaKey) -> bool:
    public = cert.public_key()
    return isinstance(public, rsa.RSAPublicKey) and public.public_numbers() == (
        key.public_key().public_numbers()
    )


def load_pkcs12(path: Path, password: Secret) -> tuple[RsaKey, list[x509.Certificate]]:
    """Key and certificate chain (leaf first) from a PKCS#12 file private to its owner."""
    check_private_file(path)
    data = _read(path)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, _password(password))
    except ValueError:
        raise CredentialsError(
            f"{path}: cannot open the PKCS#12 file: wrong password, or not a PKCS#12 file"
        ) from None
    if key is None or cert is None:
        raise CredentialsError(f"{path}: the PKCS#12 file holds no private key with certificate")
    rsa_key = _rsa(key, path)
    if not _same_key(cert, rsa_key):
        raise CredentialsError(f"{path}: the certificate does not belong to the private key")
    return rsa_key, [cert, *(c for c in extra if c != cert)]


def load_chain(path: Path, key: RsaKey) -> list[x509.Certificate]:
    """PEM certificates from ``path``, reordered so the one matching ``key`` comes first."""
    try:
        certs = x509.load_pem_x509_certificates(_read(path))
    except ValueError:
        raise CredentialsError(f"{path}: no PEM certificates found") from None
    leaf = next((c for c in certs if _same_key(c, key)), None)
    if leaf is None:
        raise CredentialsError(f"{path}: no certificate in the chain belongs to the private key")
    return [leaf, *(c for c in certs if c is not leaf)]


def x5c_header(chain: Sequence[x509.Certificate], *, now: float) -> tuple[str, ...]:
    """The ``x5c`` header: standard base64 DER, leaf first. Refuses an expired leaf."""
    leaf = chain[0]
    moment = datetime.fromtimestamp(now, tz=UTC)
    subject = leaf.subject.rfc4514_string()
    if moment > leaf.not_valid_after_utc:
        raise CredentialsError(
            f"the certificate {subject} expired on {leaf.not_valid_after_utc:%Y-%m-%d}; "
            "order a new enterprise certificate and register it with Digdir"
        )
    if moment < leaf.not_valid_before_utc:
        raise CredentialsError(
            f"the certificate {subject} is not valid before {leaf.not_valid_before_utc:%Y-%m-%d}"
            " (or the machine's clock is wrong)"
        )
    return tuple(
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain
    )
