"""Serve an Emulator over a real socket with the standard library's wsgiref, one thread per
connection, optionally over TLS.

wsgiref answers an application exception with a 500; a commit-then-drop fault must instead
close the connection without a byte, so the request handler is adapted for that one case.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import sys
import threading
from types import TracebackType
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from .emulator import Emulator
from .errors import ConnectionDropped

log = logging.getLogger("selvsync.emulator.server")


class _ServerHandler(ServerHandler):
    dropped = False

    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], ConnectionDropped):
            self.dropped = True
            return
        super().handle_error()

    def log_exception(self, exc_info: Any) -> None:
        log.error("emulator request failed", exc_info=exc_info)


class _RequestHandler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            # Handshake here, in the connection's own thread, not in the accept loop.
            self.connection.do_handshake()

    def handle(self) -> None:
        # As WSGIRequestHandler.handle, with a handler that can hang up silently.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _ServerHandler(self.rfile, self.wfile,  # type: ignore[arg-type]
                                 self.get_stderr(), self.get_environ(), multithread=True)
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(self.server.get_app())  # type: ignore[attr-defined]
        if handler.dropped:
            # Nothing was written; closing now ends the connection without a response.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], ssl_context: ssl.SSLContext | None) -> None:
        # Both are read while the base class creates and binds the socket.
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.ssl_context = ssl_context
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can hang on machines
        # without DNS; the emulator only needs the address it bound.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)
        self.setup_environ()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s failed", client_address, exc_info=True)


class RunningServer:
    """A server running in a background thread; ``url`` has no trailing slash."""

    def __init__(self, server: _Server, thread: threading.Thread, url: str) -> None:
        self._server = server
        self._thread = thread
        self.url = url
        self.host = str(server.server_address[0])
        self.port = int(server.server_address[1])

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.shutdown()


def serve(emu: Emulator, host: str = "127.0.0.1", port: int = 0, *,
          ssl_context: ssl.SSLContext | None = None) -> RunningServer:
    """Start serving ``emu`` at ``host:port`` (0: any free port) and return at once."""
    server = _Server((host, port), ssl_context)
    server.set_app(emu.wsgi)
    # A short poll interval makes shutdown() return quickly; the idle cost is negligible.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="selvsync-emulator", daemon=True)
    thread.start()
    scheme = "https" if ssl_context is not None else "http"
    shown = f"[{host}]" if ":" in host else host
    return RunningServer(server, thread, f"{scheme}://{shown}:{server.server_address[1]}")
