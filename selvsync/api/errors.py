"""Errors from talking to Digdir's self-service API and Maskinporten.

All exit with code 1 (``ExitCode.ERROR``)::

    SelvsyncError
    └── ApiError                      anything that went wrong on the wire
        ├── HttpStatusError           the server answered with an error status
        │   ├── NotFoundError         404
        │   ├── ConflictError         409 (e.g. recreating a deactivated client)
        │   ├── TermsNotSignedError   428: the organisation has not accepted the terms of use
        │   └── ForbiddenError        403: the admin client lacks a scope
        ├── AuthenticationError       401 even after a fresh token; Maskinporten refused
        │   └── CredentialsError      local key, certificate, password or token unusable
        ├── NetworkError              no usable connection after retries
        ├── AmbiguousWriteError       a non-idempotent write may or may not have happened
        ├── RetryBudgetExceededError  the run's retry time budget is spent
        ├── RetryAfterTooLongError    the server asked us to wait longer than the cap
        ├── InvalidResponseError      unreadable JSON, truncated body, unexpected shape
        └── UnsupportedOperationError the environment has no API for this (merchant data)

Every message names the method and path (never a query string carrying secrets), the
status, Digdir's ``errorMessage``/``fieldIdentifier`` pairs and ``correlation_id`` where
there are any, and is passed through :func:`selvsync.sensitive.redact.redact` before it is stored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from selvsync.errors import SelvsyncError
from selvsync.sensitive.redact import redact
from selvsync.text import escape

# Enough of a plain-text or HTML body to recognise it, not enough to flood a terminal.
_TEXT_EXCERPT = 300
_SCOPE = re.compile(r"\bidporten:[A-Za-z0-9_./-]*[A-Za-z0-9_]")


class ApiError(SelvsyncError):
    """A call to Digdir's API or to Maskinporten failed."""

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None) -> None:
        self.method = method
        self.path = path
        super().__init__(redact(message))


@dataclass(frozen=True)
class FieldError:
    """One entry of Digdir's ``errors`` array."""

    message: str
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True)
class ErrorBody:
    """What could be understood of an error response body. All text is redacted, and
    control characters in it are escaped (the body is untrusted text bound for a terminal).

    ``error`` is an OAuth-style code (``invalid_client_metadata``) and nothing else: when a
    server puts its joined messages in ``error`` (as Digdir's 2025 bodies did), they are
    kept in ``error_text`` and shown once, never twice.
    """

    errors: tuple[FieldError, ...] = ()
    error: str | None = None
    error_description: str | None = None
    correlation_id: str | None = None
    text: str | None = None  # an excerpt of a body that was not Digdir's JSON shape
    extra: dict[str, Any] = field(default_factory=dict)
    error_text: str | None = None  # ``error`` when it held messages rather than a code

    def summary(self) -> str:
        parts = [str(e) for e in self.errors]
        for candidate in (self.error_description, self.error_text):
            if candidate and not _repeats(candidate, parts):
                parts.append(candidate)
        if not parts and self.text:
            parts.append(self.text)
        return "; ".join(parts)


# An OAuth error code: one token of letters, digits, '_', '.', '-' (RFC 6749 section 5.2 allows
# a little more, but no server sends spaces in a code).
_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,80}")
# Where a non-JSON (or cut-off JSON) body still names its correlation id.
_CORRELATION = re.compile(
    r'"?correlation[_-]?id"?\s*[:=]\s*"?([A-Za-z0-9._-]{1,100})', re.IGNORECASE
)


def _squash(text: str) -> str:
    return " ".join(text.replace(";", " ").split()).casefold()


def _repeats(candidate: str, parts: list[str]) -> bool:
    """Whether ``candidate`` says nothing the ``parts`` do not already say: equal to one
    of them, or to all of them joined, or made only of messages already shown."""
    if not parts:
        return False
    said = _squash(" ".join(parts))
    wanted = _squash(candidate)
    if wanted in said:
        return True
    pieces = [_squash(p) for p in candidate.split(";") if p.strip()]
    return bool(pieces) and all(p in said for p in pieces)


def escape_controls(text: str) -> str:
    """``text`` with control and format characters (ANSI escapes, bidi overrides, line
    breaks) written as visible escapes, so live text cannot steer a terminal or a log."""
    return escape(text)


def _clean(text: str) -> str:
    return escape_controls(redact(text)).strip()


def _str_or_none(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return _clean(str(value)) or None


def parse_error_body(content: bytes, content_type: str = "") -> ErrorBody:
    """Parse an error body defensively, whatever its shape.

    Understood: Digdir's JSON (``errors[].errorMessage``/``fieldIdentifier``,
    ``error_description``, ``correlation_id``), with ``error`` as a code or as the joined
    messages; OAuth's JSON (``error``, ``error_description``); Spring's (``message``);
    plain text and HTML (an excerpt); truncated JSON (an excerpt, and the correlation id if
    it survived the cut). Every string is redacted and has its control characters escaped.
    """
    text = content.decode("utf-8", errors="replace").strip()
    if not text:
        return ErrorBody()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        found = _CORRELATION.search(text)
        if "html" in content_type.lower() or text.lstrip().startswith("<"):
            # Proxies answer with HTML pages; their tags say nothing useful.
            text = re.sub(r"<[^>]*>", " ", text)
        excerpt = " ".join(redact(text).split())[:_TEXT_EXCERPT]
        return ErrorBody(
            text=escape_controls(excerpt) or None,
            correlation_id=_clean(found.group(1)) if found else None,
        )
    errors: list[FieldError] = []
    raw_errors = data.get("errors")
    if isinstance(raw_errors, list):
        for item in raw_errors:
            if isinstance(item, dict):
                message = _str_or_none(item.get("errorMessage") or item.get("message"))
                if message:
                    errors.append(FieldError(message, _str_or_none(item.get("fieldIdentifier"))))
            elif isinstance(item, str) and item:
                errors.append(FieldError(_clean(item)))
    description = _str_or_none(data.get("error_description"))
    if not errors and not description:
        # Spring's default error shape, and anything else with a human sentence in it.
        description = _str_or_none(data.get("message") or data.get("detail"))
    raw_error = _str_or_none(data.get("error"))
    code, error_text = (
        (raw_error, None) if raw_error is None or _CODE.fullmatch(raw_error) else (None, raw_error)
    )
    return ErrorBody(
        errors=tuple(errors),
        error=code,
        error_description=description,
        correlation_id=_str_or_none(data.get("correlation_id") or data.get("correlationId")),
        error_text=error_text,
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class HttpStatusError(ApiError):
    """The server answered with an error status (after any retries)."""

    default_hint = ""

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        body: ErrorBody | None = None,
        *,
        hint: str = "",
        attempts: int = 1,
    ) -> None:
        body = body or ErrorBody()
        self.status = status
        self.body = body
        self.error_messages: list[str] = [str(e) for e in body.errors]
        self.field_errors: list[FieldError] = list(body.errors)
        self.correlation_id = body.correlation_id
        self.error = body.error
        self.attempts = attempts
        head = f"{method} {path} failed: {status} {_reason(status)}".rstrip()
        detail = body.summary()
        message = f"{head}: {detail}" if detail else head
        notes = []
        if body.error:
            notes.append(f"error {body.error}")
        if body.correlation_id:
            notes.append(f"correlation_id {body.correlation_id}")
        if attempts > 1:
            notes.append(f"after {attempts} attempts")
        if notes:
            message += f" ({', '.join(notes)})"
        hint = hint or self.default_hint
        if hint:
            message += f". {hint}"
        super().__init__(message, method=method, path=path)


class NotFoundError(HttpStatusError):
    """404: the client (or its keys) does not exist, or is deactivated."""


class ConflictError(HttpStatusError):
    """409: typically an attempt to recreate a deactivated entity."""

    default_hint = (
        "Digdir refuses to recreate a deactivated entity; declare a new client instead"
    )


class TermsNotSignedError(HttpStatusError):
    """428: the organisation has not accepted the self-service terms of use."""

    default_hint = (
        "The organisation has not accepted Digdir's terms of use for this environment. "
        "Someone with authority in the organisation must accept them in Samarbeidsportalen "
        "(samarbeid.digdir.no), then run selvsync again"
    )


class ForbiddenError(HttpStatusError):
    """403: the token lacks a scope for this call. ``missing_scope`` if the body says."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        body: ErrorBody | None = None,
        *,
        hint: str = "",
        attempts: int = 1,
        requested_scopes: tuple[str, ...] = (),
    ) -> None:
        body = body or ErrorBody()
        found = _SCOPE.findall(" ".join([body.summary(), body.error or ""]))
        self.missing_scope: str | None = found[0] if found else None
        self.requested_scopes = requested_scopes
        if not hint:
            asked = " ".join(requested_scopes) or "none"
            if self.missing_scope:
                hint = (
                    f"The access token lacks scope {self.missing_scope}: ask Digdir to grant it "
                    f"to the admin client and list it under auth.scopes (requested: {asked})"
                )
            else:
                hint = (
                    "The admin client is not allowed to do this: plan needs idporten:dcr.read, "
                    "apply idporten:dcr.write (and idporten:dcr.modify where granted); "
                    f"requested: {asked}"
                )
        super().__init__(method, path, status, body, hint=hint, attempts=attempts)


def status_error(
    method: str,
    path: str,
    status: int,
    body: ErrorBody | None = None,
    *,
    attempts: int = 1,
    requested_scopes: tuple[str, ...] = (),
) -> HttpStatusError:
    """The most specific :class:`HttpStatusError` for ``status``."""
    if status == 403:
        return ForbiddenError(
            method, path, status, body, attempts=attempts, requested_scopes=requested_scopes
        )
    cls = {404: NotFoundError, 409: ConflictError, 428: TermsNotSignedError}.get(
        status, HttpStatusError
    )
    return cls(method, path, status, body, attempts=attempts)


class AuthenticationError(ApiError):
    """Digdir rejected the token even after a refresh, or Maskinporten refused the grant."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.status = status
        self.error = error
        self.error_description = error_description
        self.correlation_id = correlation_id
        super().__init__(message, method=method, path=path)


class CredentialsError(AuthenticationError):
    """Local credential material is missing, unreadable, unsafe or inconsistent."""


class NetworkError(ApiError):
    """No usable connection to the server (after the retries the policy allows)."""

    def __init__(self, message: str, *, method: str, path: str, attempts: int = 1) -> None:
        self.attempts = attempts
        super().__init__(message, method=method, path=path)


class AmbiguousWriteError(ApiError):
    """A non-idempotent write (``POST /clients``, ``POST .../secret``) may or may not
    have taken effect: the request was sent but no trustworthy answer came back.

    It is never retried blindly. The caller re-lists live state and looks for
    ``marker`` (or ``description``) to find out; for a secret rotation, it rotates again.
    ``likely_committed`` is True when the server said 2xx but the body was unreadable,
    None when nothing is known.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        marker: str | None = None,
        description: str | None = None,
        client_name: str | None = None,
        likely_committed: bool | None = None,
        status: int | None = None,
    ) -> None:
        self.marker = marker
        self.description = description
        self.client_name = client_name
        self.likely_committed = likely_committed
        self.status = status
        super().__init__(message, method=method, path=path)


class RetryBudgetExceededError(ApiError):
    """Retrying would exceed the overall time budget of this client."""

    def __init__(self, message: str, *, method: str, path: str, budget_seconds: float) -> None:
        self.budget_seconds = budget_seconds
        super().__init__(message, method=method, path=path)


class RetryAfterTooLongError(ApiError):
    """The server asked (``Retry-After``) for a longer wait than the policy's cap."""

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int,
        retry_after: float,
        cap: float,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        self.cap = cap
        super().__init__(message, method=method, path=path)


class InvalidResponseError(ApiError):
    """The response could not be used: invalid JSON, truncated body, unexpected shape."""

    def __init__(
        self, message: str, *, method: str, path: str, status: int | None = None
    ) -> None:
        self.status = status
        super().__init__(message, method=method, path=path)


class UnsupportedOperationError(ApiError):
    """The environment offers no API for this operation (e.g. merchant data at Digdir)."""
