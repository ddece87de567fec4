"""Maskinporten's JWT-bearer grant (``POST /token``) for configured admin clients.

Claims are checked by hand rather than by PyJWT so each failure gets a message a client can
act on: skew, expiry and replay are told apart, with the server's view of the time.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

import jwt
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .errors import OAuthError
from .keys import PRIVATE_MEMBERS
from .store import Store
from .tokens import TokenRegistry

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ALGORITHMS = ("RS256", "RS384", "RS512")
# Norwegian enterprise certificates carry the orgno in serialNumber or organizationIdentifier
# ("NTRNO-991825827"); a certificate of another organisation must not act for this client.
ORGNO_OIDS = (x509.NameOID.SERIAL_NUMBER, x509.ObjectIdentifier("2.5.4.97"))
PREFIX = "Invalid assertion. Client authentication failed."


@dataclass(frozen=True)
class AdminClient:
    client_id: str
    orgno: str
    scopes: frozenset[str]
    certificates: tuple[x509.Certificate, ...] = ()
    keys: Mapping[str, jwt.PyJWK] = field(default_factory=dict)


def _invalid(message: str) -> OAuthError:
    return OAuthError("invalid_grant", f"{PREFIX} {message}")


def load_admin_client(client_id: str, orgno: str, scopes: Iterable[str],
                      certificates: Iterable[bytes | str] = (),
                      jwks: Iterable[Mapping[str, Any]] = ()) -> AdminClient:
    certs: list[x509.Certificate] = []
    for pem in certificates:
        certs.extend(x509.load_pem_x509_certificates(pem.encode() if isinstance(pem, str)
                                                     else pem))
    keys: dict[str, jwt.PyJWK] = {}
    for jwk in jwks:
        if PRIVATE_MEMBERS & jwk.keys() or not isinstance(jwk.get("kid"), str):
            raise ValueError("admin client keys must be public JWKs with a kid")
        keys[jwk["kid"]] = jwt.PyJWK(dict(jwk))
    return AdminClient(client_id, orgno, frozenset(scopes), tuple(certs), keys)


class GrantHandler:
    def __init__(self, store: Store, tokens: TokenRegistry, clock: Callable[[], float],
                 issuer: str, *, max_skew: float = 10.0, max_lifetime: int = 120,
                 token_lifetime: int = 120) -> None:
        self._store = store
        self._tokens = tokens
        self._clock = clock
        self.issuer = issuer
        self.max_skew = max_skew
        self.max_lifetime = max_lifetime
        self.token_lifetime = token_lifetime
        self.admin_clients: dict[str, AdminClient] = {}

    def add(self, client: AdminClient) -> None:
        self.admin_clients[client.client_id] = client

    def exchange(self, form: Mapping[str, str]) -> dict[str, Any]:
        """The token response for a valid grant; OAuthError otherwise."""
        if form.get("grant_type") != JWT_BEARER:
            raise OAuthError("unsupported_grant_type", f"grant_type must be {JWT_BEARER}")
        assertion = form.get("assertion")
        if not assertion:
            raise OAuthError("invalid_request", "the assertion parameter is required")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise _invalid("The assertion is not a valid JWT.") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise _invalid(f"Unsupported alg {alg!r}; use one of {', '.join(ALGORITHMS)}.")
        client = self.admin_clients.get(str(unverified.get("iss")))
        if client is None:
            raise OAuthError("invalid_client", f"{PREFIX} Unknown client (iss).")
        key = self._verification_key(header, client)
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion, key, algorithms=[alg],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                         "verify_aud": False, "verify_iss": False})
        except jwt.InvalidSignatureError:
            raise _invalid("Invalid signature.") from None
        except jwt.InvalidTokenError as exc:
            raise _invalid(f"Invalid JWT: {exc}.") from None
        self._check_claims(claims, client)
        scopes = self._granted_scopes(claims, client)
        token = self._tokens.issue(client.orgno, scopes, self.token_lifetime)
        return {"access_token": token, "token_type": "Bearer",
                "expires_in": self.token_lifetime, "scope": " ".join(scopes)}

    def _verification_key(self, header: Mapping[str, Any],
                          client: AdminClient) -> RSAPublicKey | jwt.PyJWK:
        if "x5c" in header:
            return self._certificate_key(header["x5c"], client)
        kid = header.get("kid")
        if isinstance(kid, str):
            if kid not in client.keys:
                raise _invalid(f"Unknown kid {kid!r} for this client.")
            return client.keys[kid]
        raise _invalid("The JWT header needs x5c (certificate) or kid (registered key).")

    def _certificate_key(self, x5c: object, client: AdminClient) -> RSAPublicKey:
        if not isinstance(x5c, list) or not x5c or not isinstance(x5c[0], str):
            raise _invalid("x5c must be a non-empty list of base64 DER certificates.")
        try:
            # Standard base64 with validation: the base64url mix-up is a common client bug.
            leaf = x509.load_der_x509_certificate(base64.b64decode(x5c[0], validate=True))
        except (binascii.Error, ValueError):
            raise _invalid("x5c[0] is not a standard-base64 DER certificate.") from None
        if not any(_vouches_for(trusted, leaf) for trusted in client.certificates):
            raise _invalid("The certificate is not trusted for this client.")
        now = datetime.fromtimestamp(self._clock(), UTC)
        if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
            raise _invalid("The certificate is expired or not yet valid.")
        cert_orgno = _certificate_orgno(leaf)
        if cert_orgno is not None and cert_orgno != client.orgno:
            raise _invalid(f"The certificate belongs to organisation {cert_orgno}, "
                           f"not {client.orgno}.")
        public_key = leaf.public_key()
        if not isinstance(public_key, RSAPublicKey):
            raise _invalid("The certificate key must be RSA.")
        return public_key

    def _check_claims(self, claims: Mapping[str, Any], client: AdminClient) -> None:
        now = self._clock()
        aud = claims.get("aud")
        if aud != self.issuer and not (isinstance(aud, list) and self.issuer in aud):
            raise _invalid(f"Invalid audience (aud): expected {self.issuer!r}, "
                           f"the issuer, not the token endpoint URL.")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not _is_number(iat) or not _is_number(exp):
            raise _invalid("iat and exp are required numeric claims.")
        if exp <= iat or exp - iat > self.max_lifetime:
            raise _invalid(f"exp - iat must be between 1 and {self.max_lifetime} seconds, "
                           f"got {exp - iat:g}.")
        if iat > now + self.max_skew:
            raise _invalid(f"iat is in the future: {iat - now:.0f} s ahead of the server clock "
                           f"(server time {now:.0f}); check the client's clock.")
        nbf = claims.get("nbf")
        if _is_number(nbf) and nbf > now + self.max_skew:
            raise _invalid("nbf is in the future; check the client's clock.")
        if exp < now:
            raise _invalid(f"The JWT has expired: exp is {now - exp:.0f} s before the server "
                           f"clock (server time {now:.0f}).")
        if iat < now - self.max_skew:
            raise _invalid(f"iat is too old: {now - iat:.0f} s behind the server clock "
                           f"(allowed {self.max_skew:g} s; server time {now:.0f}); "
                           f"check the client's clock.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _invalid("jti is required: a fresh UUID for every assertion.")
        if not self._store.use_jti(client.client_id, jti, exp + self.max_skew, now):
            raise _invalid("Grant is used before: jti must be unique for every assertion.")

    @staticmethod
    def _granted_scopes(claims: Mapping[str, Any], client: AdminClient) -> list[str]:
        requested = claims.get("scope")
        if not isinstance(requested, str) or not requested.split():
            raise OAuthError("invalid_scope", "the scope claim is required")
        scopes = list(dict.fromkeys(requested.split()))
        refused = [s for s in scopes if s not in client.scopes]
        if refused:
            raise OAuthError("invalid_scope",
                             f"Invalid scope: {' '.join(refused)} is not allowed for this client")
        return scopes


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _vouches_for(trusted: x509.Certificate, leaf: x509.Certificate) -> bool:
    if trusted == leaf:
        return True
    try:
        leaf.verify_directly_issued_by(trusted)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _certificate_orgno(cert: x509.Certificate) -> str | None:
    for oid in ORGNO_OIDS:
        for attribute in cert.subject.get_attributes_for_oid(oid):
            value = attribute.value
            text = value.decode() if isinstance(value, bytes) else value
            match = re.search(r"(\d{9})$", text)
            if match:
                return match.group(1)
    return None

