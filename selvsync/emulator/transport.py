"""An httpx transport that calls the emulator in-process and fails like a network would."""

from __future__ import annotations

from typing import Any

import httpx

from .errors import ConnectionDropped


class EmulatorTransport(httpx.BaseTransport):
    """``httpx.WSGITransport`` around the emulator's WSGI app. A commit-then-drop fault
    surfaces as ``httpx.RemoteProtocolError``, what httpx raises when a real server closes
    the connection without answering, so retry code sees the same exception in both worlds."""

    def __init__(self, app: Any) -> None:
        self._inner = httpx.WSGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._inner.handle_request(request)
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request) from None

    def close(self) -> None:
        self._inner.close()
