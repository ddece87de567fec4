"""The admin client's credentials, read from environment variables and files only.

The loaders refuse private-key files that group or others can read, and turn every failure
into a :class:`~selvsync.api.errors.CredentialsError` that names the file or variable.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from selvsync.api.errors import CredentialsError
from selvsync.files import read_regular
from selvsync.sensitive.value import Secret

RsaKey = rsa.RSAPrivateKey


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
        raise CredentialsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    # POSIX permission bits mean nothing useful on Windows; ACLs guard files there.
    if os.name != "nt" and mode & 0o077:
        raise CredentialsError(
            f"{path} is accessible by group or others (mode {stat.S_IMODE(mode):o}); a private "
            f"key must be readable by its owner only: chmod 600 {path}"
        )


def _read(path: Path) -> bytes:
    try:
        return read_regular(path, limit=1024 * 1024)
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
