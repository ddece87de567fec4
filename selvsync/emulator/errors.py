"""Errors the emulator answers with, in Digdir's body shape or OAuth's.

Handlers raise these; the WSGI layer turns them into responses. Messages never contain
secrets, tokens or private key material: only field names and public values.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .timefmt import digdir_timestamp

# The ``error`` code Digdir-style bodies carry per status. Digdir documents only
# invalid_client_metadata; the others are the emulator's choice (see docs/emulator.md).
ERROR_CODES: dict[int, str] = {
    400: "invalid_client_metadata",
    401: "invalid_token",
    403: "insufficient_scope",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    428: "precondition_required",
    429: "too_many_requests",
}


@dataclass(frozen=True)
class FieldError:
    message: str
    field: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "errorMessage": self.message,
            "isFieldError": self.field is not None,
            "objectName": "Client",
            "fieldIdentifier": self.field,
        }


@dataclass
class ApiProblem(Exception):
    """An error answered in Digdir's shape; ``errors`` lists every problem found."""

    status: int
    errors: list[FieldError]
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.description)

    @property
    def description(self) -> str:
        return describe(self.errors)

    def body(self, now: float) -> dict[str, Any]:
        return problem_body(self.status, self.errors, now, self.error)


def problem(status: int, message: str, field: str | None = None, *, error: str | None = None,
            headers: dict[str, str] | None = None) -> ApiProblem:
    return ApiProblem(status, [FieldError(message, field)], error, dict(headers or {}))


def problem_body(status: int, errors: list[FieldError], now: float,
                 error: str | None = None) -> dict[str, Any]:
    code = error or ERROR_CODES.get(status, "server_error" if status >= 500 else "invalid_request")
    return {
        "status": status,
        "timestamp": digdir_timestamp(now),
        "correlation_id": str(uuid.uuid4()),
        "errors": [e.as_json() for e in errors],
        "error": code,
        "error_description": describe(errors),
    }


def describe(errors: list[FieldError]) -> str:
    return "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors)


@dataclass
class OAuthError(Exception):
    """A token-endpoint error: RFC 6749 section 5.2 body, status 400 unless told."""

    error: str
    description: str
    status: int = 400

    def __post_init__(self) -> None:
        super().__init__(f"{self.error}: {self.description}")

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class ConnectionDropped(Exception):
    """Raised after a request was committed to make the transport drop the connection
    without a response, the way a proxy or load balancer failure looks to a client."""
