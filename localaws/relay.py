"""What every local HTTP proxy in front of the embedded AWS shares: a threaded server that can close the
keep-alive connections it holds when it stops, and a handler base that reads a request body (chunked or not)
and writes an answer. The limits proxy (localaws/limits_proxy.py) and the fault-injection tests' proxy
(tests/e2e/fault_proxy.py) are built on it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


def loopback(url: str) -> tuple[str, int]:
    """(host, port) of `url`, which must be a loopback address: these proxies never forward further."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"a local proxy forwards to a loopback address only, not {url!r}")
    return parts.hostname, parts.port or 80


class RelayServer(ThreadingHTTPServer):
    """One thread per connection; `close()` also shuts the connections still open (their threads would wait)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def serve_in_thread(self, name: str) -> None:
        threading.Thread(target=self.serve_forever, args=(0.1,), name=name, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        with self._lock:
            held = list(self._connections)
        for connection in held:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class RelayHandler(BaseHTTPRequestHandler):
    """Every method goes to `relay()`; subclasses implement it with `read_body()` and `answer()`."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.relay()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def relay(self) -> None:
        raise NotImplementedError

    def read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
