"""Fault injection: rules matched by method and path that delay, refuse or damage responses.

Faults act in two phases. Before the handler runs (nothing committed): latency, rate limit,
a given status, and list lag for the handler to apply. After it committed: drop the
connection, replace the answer with a 5xx, or truncate the body, so a client sees a failure
for a change that did happen. Shape faults change only how an answer is written, in shapes
Digdir has really used: error bodies (``error_shape``) and a keyless key set
(``keyless_jwks``).
"""

from __future__ import annotations

import math
import random
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from fnmatch import fnmatchcase
from typing import Any, Literal, TypedDict, Unpack, get_args

from .timefmt import http_date

FaultKind = Literal["latency", "status", "rate_limit", "drop", "commit_status", "truncate",
                    "list_lag", "error_shape", "keyless_jwks"]
KINDS: frozenset[str] = frozenset(get_args(FaultKind))
PRE_COMMIT = frozenset({"latency", "status", "rate_limit", "list_lag"})
SHAPES = frozenset({"error_shape", "keyless_jwks"})
POST_COMMIT = KINDS - PRE_COMMIT - SHAPES
DEFAULT_STATUS = {"status": 503, "commit_status": 502}
# How an error body is written. modern: ``error`` is a code (invalid_client_metadata, ...);
# messages: ``error`` carries the joined messages, as in 2025 bodies; plain: text/plain,
# the joined messages only, as older endpoints answered.
ErrorShape = Literal["modern", "messages", "plain"]
ERROR_SHAPES: frozenset[str] = frozenset(get_args(ErrorShape))
# A keyless client's key set: {"keys": []} or {}.
KeylessJwks = Literal["keys", "empty"]
KEYLESS_JWKS: frozenset[str] = frozenset(get_args(KeylessJwks))


@dataclass
class Fault:
    """One rule. ``path`` is a glob over the whole request path (prefix included);
    ``path_regex``, when set, must match the whole path instead. ``times`` counts the
    matching requests still to affect (None: until removed)."""

    kind: FaultKind
    method: str = "*"
    path: str = "*"
    path_regex: str | None = None
    times: int | None = None
    seconds: float = 0.0
    jitter: float = 0.0
    status: int | None = None
    retry_after: float | str | None = None
    retry_after_format: Literal["seconds", "http-date"] = "seconds"
    body: str | None = None
    rate: float = 1.0
    burst: int = 1
    shape: ErrorShape = "messages"
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _tokens: float = field(default=-1.0, init=False, repr=False, compare=False)
    _refilled_at: float = field(default=0.0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        if self.status is None and self.kind in DEFAULT_STATUS:
            self.status = DEFAULT_STATUS[self.kind]
        self._pattern = re.compile(self.path_regex) if self.path_regex is not None else None

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        if self._pattern is not None:
            return self._pattern.fullmatch(path) is not None
        return fnmatchcase(path, self.path)

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    @classmethod
    def from_json(cls, spec: object) -> Fault:
        if not isinstance(spec, Mapping):
            raise ValueError("a fault is a JSON object with at least 'kind'")
        allowed = {f.name for f in fields(cls) if f.init}
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        try:
            return cls(**spec)
        except TypeError as exc:
            raise ValueError(str(exc)) from None


def _problems(f: Fault) -> list[str]:
    problems: list[str] = []
    if f.kind not in KINDS:
        problems.append(f"kind must be one of {', '.join(sorted(KINDS))}")
    if not isinstance(f.method, str) or not isinstance(f.path, str):
        problems.append("method and path must be strings")
    if f.times is not None and (not isinstance(f.times, int) or f.times < 1):
        problems.append("times must be a positive integer or null")
    if not _non_negative(f.seconds) or not _non_negative(f.jitter):
        problems.append("seconds and jitter must be non-negative numbers")
    if f.status is not None and (not isinstance(f.status, int) or not 100 <= f.status <= 599):
        problems.append("status must be an HTTP status code")
    if not _non_negative(f.rate) or f.rate == 0 or not isinstance(f.burst, int) or f.burst < 1:
        problems.append("rate must be positive and burst a positive integer")
    if f.body is not None and not isinstance(f.body, str):
        problems.append("body must be a string or null")
    if f.shape not in ERROR_SHAPES:
        problems.append(f"shape must be one of {', '.join(sorted(ERROR_SHAPES))}")
    if f.retry_after_format not in ("seconds", "http-date"):
        problems.append("retry_after_format must be seconds or http-date")
    if f.retry_after is not None and not isinstance(f.retry_after, str | int | float):
        problems.append("retry_after must be a number of seconds or an HTTP date")
    if f.path_regex is not None:
        try:
            re.compile(f.path_regex)
        except (re.error, TypeError):
            problems.append("path_regex is not a valid regular expression")
    return problems


def _non_negative(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


class FaultOptions(TypedDict, total=False):
    """Keyword arguments of ``FaultSet.add``: Fault's fields other than ``kind``."""

    method: str
    path: str
    path_regex: str | None
    times: int | None
    seconds: float
    jitter: float
    status: int | None
    retry_after: float | str | None
    retry_after_format: Literal["seconds", "http-date"]
    body: str | None
    rate: float
    burst: int
    shape: ErrorShape
    id: str


@dataclass(frozen=True)
class Rejection:
    """An answer given instead of running the handler."""

    status: int
    headers: dict[str, str]
    body: str | None = None


@dataclass(frozen=True)
class PreCommit:
    delay: float = 0.0
    rejection: Rejection | None = None
    list_lag: float = 0.0


class FaultSet:
    def __init__(self, clock: Callable[[], float], rng: random.Random) -> None:
        self._clock = clock
        self._rng = rng
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, kind: FaultKind, **options: Unpack[FaultOptions]) -> Fault:
        """Add a fault: ``emu.faults.add("status", method="POST", status=503, times=2)``."""
        return self.add_fault(Fault(kind, **options))

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def add_spec(self, spec: object) -> Fault:
        """Add a fault from its JSON form; ValueError names what is wrong."""
        return self.add_fault(Fault.from_json(spec))

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            kept = [f for f in self._faults if f.id != fault_id]
            removed = len(kept) != len(self._faults)
            self._faults = kept
        return removed

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def before(self, method: str, path: str) -> PreCommit:
        with self._lock:
            now = self._clock()
            delay, lag = 0.0, 0.0
            rejection: Rejection | None = None
            for fault in self._matching(method, path, PRE_COMMIT):
                if fault.kind == "latency":
                    delay += fault.seconds + self._rng.uniform(0, fault.jitter)
                elif fault.kind == "list_lag":
                    lag = max(lag, fault.seconds)
                elif rejection is not None:
                    continue
                elif fault.kind == "rate_limit":
                    rejection = self._take_token(fault, now)
                    if rejection is None:
                        continue
                else:
                    rejection = Rejection(fault.status or 503, self._retry_after(fault, now),
                                          fault.body)
                self._consume(fault)
            return PreCommit(delay, rejection, lag)

    def after(self, method: str, path: str) -> Fault | None:
        """The post-commit fault to apply to this response, if any."""
        with self._lock:
            for fault in self._matching(method, path, POST_COMMIT):
                self._consume(fault)
                return fault
        return None

    def shaping(self, kind: Literal["error_shape", "keyless_jwks"], method: str,
                path: str) -> Fault | None:
        """The first matching shape fault of ``kind``. Call it only for an answer the fault
        applies to (an error body; a keyless key set): ``times`` counts those."""
        with self._lock:
            for fault in self._matching(method, path, frozenset({kind})):
                self._consume(fault)
                return fault
        return None

    def _matching(self, method: str, path: str, kinds: frozenset[str]) -> list[Fault]:
        return [f for f in self._faults if f.kind in kinds and f.matches(method, path)]

    def _consume(self, fault: Fault) -> None:
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)

    def _take_token(self, fault: Fault, now: float) -> Rejection | None:
        if fault._tokens < 0:
            fault._tokens, fault._refilled_at = float(fault.burst), now
        fault._tokens = min(float(fault.burst),
                            fault._tokens + (now - fault._refilled_at) * fault.rate)
        fault._refilled_at = now
        if fault._tokens >= 1:
            fault._tokens -= 1
            return None
        wait = math.ceil((1 - fault._tokens) / fault.rate)
        return Rejection(429, {"Retry-After": self._format_retry_after(wait, fault, now)},
                         fault.body)

    def _retry_after(self, fault: Fault, now: float) -> dict[str, str]:
        if fault.retry_after is None:
            return {}
        return {"Retry-After": self._format_retry_after(fault.retry_after, fault, now)}

    @staticmethod
    def _format_retry_after(value: float | str, fault: Fault, now: float) -> str:
        if isinstance(value, str):
            return value
        if fault.retry_after_format == "http-date":
            return http_date(now + value)
        return str(math.ceil(value))
