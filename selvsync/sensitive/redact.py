"""The one place that scrubs secrets, tokens and assertions out of text.

Every string that leaves selvsync's HTTP layer for a human (log records, exception
messages, stored error bodies) goes through :func:`redact`. Two mechanisms work together:

* **Known values.** Whoever learns a sensitive value (a client secret from a create or
  rotate response, an access token, a signed assertion, a token read from the
  environment) calls :func:`register`. The value is then replaced wherever it appears,
  also in the encodings it tends to leak in: JSON-escaped, URL-encoded and base64.
* **Shapes.** Patterns catch values nobody registered: ``"client_secret": "..."`` JSON
  fields, ``client_secret=...`` form fields, ``Bearer ...``, ``assertion=...``,
  ``access_token`` fields and anything that looks like a JWT.

The registry is process-wide and thread-safe: a secret learnt by one worker must be
scrubbed from every other worker's log lines too.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from urllib.parse import quote, quote_plus

REDACTED = "(redacted)"

# Shorter values would scrub ordinary words out of messages; the shape patterns below
# still catch short values in the places secrets are sent.
_MIN_LENGTH = 6

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JSON fields, possibly with escaped quotes inside the value.
    (
        re.compile(
            r'("(?:client_secret|access_token|refresh_token|id_token|assertion|password)"'
            r'\s*:\s*)"(?:[^"\\]|\\.)*"'
        ),
        r'\1"' + REDACTED + '"',
    ),
    # Form or query fields.
    (
        re.compile(
            r"\b(client_secret|access_token|refresh_token|assertion|password)=[^&\s\"']+"
        ),
        r"\1=" + REDACTED,
    ),
    # Authorization headers and their echoes.
    (
        re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE),
        r"\1 " + REDACTED,
    ),
    # Anything shaped like a JWT (header.payload[.signature], base64url of '{"').
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?"), REDACTED),
)


def _variants(value: str) -> set[str]:
    """The forms a value takes when it leaks through JSON, URLs or base64."""
    raw = value.encode()
    forms = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value, safe=""),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    }
    # Unpadded base64 is what JWTs and many log formatters use.
    forms |= {f.rstrip("=") for f in list(forms)}
    return {f for f in forms if len(f) >= _MIN_LENGTH}


class Redactor:
    """A registry of sensitive values plus the shape patterns. Thread-safe.

    Known values are indexed by their first few characters rather than compiled into one
    big regular expression: a run that learns hundreds of secrets and tokens would
    otherwise recompile an ever larger pattern after every registration.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # prefix -> values starting with it. Tuples are replaced, never mutated, so readers
        # need no lock (a dict lookup and a tuple are atomic under the GIL).
        self._index: dict[str, tuple[str, ...]] = {}

    def register(self, value: str) -> None:
        """Remember ``value`` (and its encodings) as sensitive from now on."""
        if not value or len(value) < _MIN_LENGTH:
            return
        with self._lock:
            for form in _variants(value):
                key = form[:_MIN_LENGTH]
                known = self._index.get(key, ())
                if form not in known:
                    self._index[key] = (*known, form)

    def _replace_known(self, text: str) -> str:
        index = self._index
        if not index:
            return text
        parts: list[str] = []
        last = i = 0
        end = len(text) - _MIN_LENGTH
        while i <= end:
            candidates = index.get(text[i : i + _MIN_LENGTH])
            if candidates:
                found = [c for c in candidates if text.startswith(c, i)]
                if found:
                    parts += (text[last:i], REDACTED)
                    i = last = i + max(len(c) for c in found)
                    continue
            i += 1
        if not parts:
            return text
        parts.append(text[last:])
        return "".join(parts)

    def redact(self, text: str) -> str:
        """Return ``text`` with every known value and every sensitive shape replaced."""
        text = self._replace_known(text)
        for regex, replacement in _PATTERNS:
            text = regex.sub(replacement, text)
        return text


_DEFAULT = Redactor()


def register(value: str) -> None:
    """Register a sensitive value with the process-wide redactor."""
    _DEFAULT.register(value)


def redact(text: str) -> str:
    """Scrub ``text`` with the process-wide redactor."""
    return _DEFAULT.redact(text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the fully formatted message of every record.

    Attach it to handlers (the CLI does) so that even third-party log lines, such as
    httpx's, cannot carry a registered secret to the terminal.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True
