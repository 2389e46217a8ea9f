"""The health server's probes and the metrics it serves."""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass

import pytest
from worker_fakes import Harness

from workers.health import HealthServer, _Handler, respond
from workers.metrics import CONTENT_TYPE, Counter, Metrics


@dataclass
class StubProbe:
    alive: bool = True
    ready: bool = True

    def is_alive(self) -> bool:
        return self.alive

    def is_ready(self) -> bool:
        return self.ready


def test_healthz_follows_the_loop() -> None:
    probe = StubProbe()
    assert respond("/healthz", probe, Metrics())[0] == 200
    probe.alive = False
    assert respond("/healthz", probe, Metrics())[0] == 503


def test_readyz_turns_false_while_draining() -> None:
    probe = StubProbe()
    assert respond("/readyz?verbose=1", probe, Metrics())[0] == 200
    probe.ready = False
    assert respond("/readyz", probe, Metrics())[0] == 503


def test_an_unknown_path_is_404() -> None:
    assert respond("/nope", StubProbe(), Metrics())[0] == 404


def test_metrics_are_served_in_prometheus_text() -> None:
    # Given some activity
    metrics = Metrics()
    metrics.inc(Counter.STARTED, 3)
    metrics.inc(Counter.SUCCEEDED, 2)
    metrics.set_in_flight(1)
    metrics.observe_poll(0.5)
    metrics.observe_poll(1.5)

    # When Prometheus scrapes
    status, content_type, body = respond("/metrics", StubProbe(), metrics)

    # Then every sample is there, typed, in the text exposition format
    assert (status, content_type) == (200, CONTENT_TYPE)
    samples = dict(line.split(" ") for line in body.splitlines() if not line.startswith("#"))
    assert samples["tasks_started_total"] == "3"
    assert samples["tasks_succeeded_total"] == "2"
    assert samples["tasks_failed_total"] == "0"
    assert samples["tasks_in_flight"] == "1"
    assert (samples["poll_latency_seconds_count"], float(samples["poll_latency_seconds_sum"])) == ("2", 2.0)
    assert "# TYPE poll_latency_seconds summary" in body.splitlines()
    assert body.endswith("\n")


def test_the_handler_speaks_http() -> None:
    # Over a local socket pair: unit tests open no IP connections.
    server_side, client_side = socket.socketpair()
    with server_side, client_side:
        client_side.sendall(b"GET /readyz HTTP/1.1\r\nHost: worker\r\n\r\n")
        server = type("Server", (), {"probe": StubProbe(ready=False), "metrics": Metrics()})()
        _Handler(server_side, ("worker", 0), server)
        server_side.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(client_side)
        response.begin()

        assert (response.status, response.read()) == (503, b"not ready\n")
        assert response.getheader("Content-Type") == "text/plain; charset=utf-8"


def test_a_port_in_use_fails_at_start() -> None:
    # main() turns this OSError into exit code 2.
    first = HealthServer("127.0.0.1", 0, StubProbe(), Metrics()).start()
    try:
        with pytest.raises(OSError):
            HealthServer("127.0.0.1", first.port, StubProbe(), Metrics())
    finally:
        first.stop()


def test_the_worker_is_alive_only_while_its_loop_ticks() -> None:
    # Given a worker whose loop last ticked at t=0, with a 60 s liveness allowance
    now = [0.0]
    harness = Harness(liveness_seconds=60)
    harness.worker._clock = lambda: now[0]
    harness.worker._last_tick = 0.0

    # Then it is alive until a minute passes without a tick
    now[0] = 59.0
    assert harness.worker.is_alive()
    now[0] = 60.0
    assert not harness.worker.is_alive()
