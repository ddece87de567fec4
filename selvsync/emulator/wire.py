"""Plain request and response values between WSGI and the handlers (no web framework)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from .errors import problem

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    base_url: str = "http://emulator"

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = str(environ["CONTENT_TYPE"])
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(min(length, MAX_BODY + 1)) if length > 0 else b""
        host = headers.get("host") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        return cls(
            method=str(environ["REQUEST_METHOD"]).upper(),
            path=str(environ.get("PATH_INFO") or "/"),
            query=dict(parse_qsl(str(environ.get("QUERY_STRING") or ""))),
            headers=headers,
            body=body,
            base_url=f"{environ.get('wsgi.url_scheme', 'http')}://{host}",
        )

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() == "true"

    def json(self) -> object:
        """The body as JSON, or the 4xx a Spring service gives for a body it cannot read."""
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise problem(415, "Content-Type must be application/json")
        if len(self.body) > MAX_BODY:
            raise problem(413, "the request body is too large")
        if not self.body.strip():
            raise problem(400, "a JSON request body is required", error="invalid_request")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise problem(400, "the request body is not valid JSON", error="invalid_request") \
                from None

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: object, headers: dict[str, str] | None = None,
             ) -> Response:
        return cls(status, json.dumps(payload).encode(),
                   {"Content-Type": "application/json", **(headers or {})})

    def status_line(self) -> str:
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Unknown"
        return f"{self.status} {phrase}"

    def header_list(self) -> list[tuple[str, str]]:
        headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
        return [*headers.items(), ("Content-Length", str(len(self.body)))]
