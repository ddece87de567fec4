"""The HTTP control surface under ``/_emulator/``: faults and counters for tests and
benchmarks that drive the emulator over a socket. It has no authentication, which is why it
can be switched off (``Emulator(control=False)``) and why the server binds loopback."""

from __future__ import annotations

from collections.abc import Callable

from .counters import Counters
from .errors import ApiProblem
from .faults import Fault, FaultSet
from .wire import Request, Response

ROOT = "/_emulator"


def _error(status: int, message: str) -> Response:
    return Response.json(status, {"error": "invalid_request", "error_description": message})


class ControlSurface:
    def __init__(self, faults: FaultSet, counters: Counters,
                 extra: Callable[[Request, str], Response | None] | None = None) -> None:
        self._faults = faults
        self._counters = counters
        self._extra = extra  # more endpoints (scopes.py): a Response, or None if not theirs

    def handle(self, req: Request) -> Response:
        route = (req.method, req.path.removeprefix(ROOT).rstrip("/") or "/")
        match route:
            case ("GET", "/health"):
                return Response.json(200, {"status": "ok"})
            case ("GET", "/faults"):
                return Response.json(200, {"faults": [f.as_json() for f in self._faults.active()]})
            case ("POST", "/faults"):
                return self._add_faults(req)
            case ("DELETE", "/faults"):
                removed = len(self._faults.active())
                self._faults.clear()
                return Response.json(200, {"removed": removed})
            case ("DELETE", path) if path.startswith("/faults/"):
                if self._faults.remove(path.removeprefix("/faults/")):
                    return Response.json(200, {"removed": 1})
                return _error(404, "no such fault")
            case ("GET", "/counters"):
                return Response.json(200, self._counters.snapshot())
            case ("POST", "/counters/reset"):
                self._counters.reset()
                return Response.json(200, {})
        if self._extra is not None:
            answer = self._extra(req, route[1])
            if answer is not None:
                return answer
        return _error(404, f"no control endpoint {req.method} {req.path}")

    def _add_faults(self, req: Request) -> Response:
        try:
            spec = req.json()
            # Build every fault before adding any, so a bad list changes nothing.
            built = [Fault.from_json(s) for s in (spec if isinstance(spec, list) else [spec])]
        except ApiProblem as exc:
            return _error(exc.status, exc.description)
        except ValueError as exc:
            return _error(400, str(exc))
        added = [self._faults.add_fault(f) for f in built]
        payload = [f.as_json() for f in added]
        return Response.json(201, payload if isinstance(spec, list) else payload[0])
