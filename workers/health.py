"""Health endpoints on stdlib http.server: /healthz (liveness), /readyz (readiness), /metrics.

A few probe requests a minute need no framework; the server runs on its own daemon threads, so a busy
or stuck loop cannot starve the probe that is meant to notice it.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from workers.metrics import CONTENT_TYPE, Metrics

_TEXT = "text/plain; charset=utf-8"


class Probe(Protocol):
    def is_alive(self) -> bool: ...

    def is_ready(self) -> bool: ...


class HealthServer:
    """Serves until stop(); port 0 binds a free port (see `port`), which the tests use."""

    def __init__(self, host: str, port: int, probe: Probe, metrics: Metrics) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.probe = probe
        self._server.metrics = metrics
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()  # waits for serve_forever, so only once it runs
        self._server.server_close()


def respond(path: str, probe: Probe, metrics: Metrics) -> tuple[int, str, str]:
    """Status, content type and body for a GET of `path`."""
    path = path.split("?", 1)[0]
    if path == "/healthz":
        alive = probe.is_alive()
        return (200 if alive else 503), _TEXT, "ok\n" if alive else "loop stalled\n"
    if path == "/readyz":
        ready = probe.is_ready()
        return (200 if ready else 503), _TEXT, "ready\n" if ready else "not ready\n"
    if path == "/metrics":
        return 200, CONTENT_TYPE, metrics.render()
    return 404, _TEXT, "not found\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    probe: Probe
    metrics: Metrics


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # the name http.server dispatches to
        status, content_type, body = respond(self.path, self.server.probe, self.server.metrics)
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        # Probes every few seconds would drown the task logs.
        pass
