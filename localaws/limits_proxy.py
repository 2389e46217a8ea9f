"""The limits proxy: an HTTP front for the embedded AWS that applies DynamoDB's per-key limits.

Processes reach it through `AWS_ENDPOINT_URL_DYNAMODB` (botocore's service-specific endpoint variable), so
only DynamoDB's JSON protocol comes here; anything else (DynamoDB Streams included) is relayed untouched.
Requests overlap: one thread per client connection, each with its own keep-alive connection upstream, so
that two transactions on one item can be in flight at once, as in AWS, even though the emulator behind
applies one request at a time.

Its own endpoints: `GET /_limits/stats[?top=N]` (units, throttles and cancellations so far, busiest keys
first), `POST /_limits/reset` (zero the counts and refill every key), `GET /_limits/health`.

Run: `python -m localaws.limits_proxy --port 4567 --upstream http://127.0.0.1:4566`.
"""

from __future__ import annotations

import http.client
import json
import threading
import zlib
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import typer

from localaws.dynamodb_limits import (
    IN_FLIGHT_SECONDS,
    READ_UNITS_PER_KEY,
    WRITE_UNITS_PER_KEY,
    Answer,
    DynamoLimits,
    dumps,
)
from localaws.relay import RelayHandler, RelayServer, loopback

TARGET_PREFIX = "DynamoDB_20120810."
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length", "host"}
UPSTREAM_TIMEOUT_SECONDS = 70.0


class Upstream:
    """One keep-alive HTTP connection to the emulator per proxy thread."""

    def __init__(self, url: str) -> None:
        self.host, self.port = loopback(url)
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection(
                self.host, self.port, timeout=UPSTREAM_TIMEOUT_SECONDS)
        return connection

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        sent = {**headers, "Host": f"{self.host}:{self.port}", "Content-Length": str(len(body))}
        for attempt in range(2):  # a keep-alive connection the emulator closed is reopened once
            connection = self._connection()
            try:
                connection.request(method, path, body=body, headers=sent)
                response = connection.getresponse()
                payload = response.read()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
                return response.status, kept, payload
            except (OSError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


class LimitsProxy:
    def __init__(self, upstream: str = "http://127.0.0.1:4566", host: str = "127.0.0.1", port: int = 0,
                 model: DynamoLimits | None = None) -> None:
        self.upstream = Upstream(upstream)
        self.model = model or DynamoLimits()
        self.host = host
        self.port = port
        self._server: RelayServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the proxy first"
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> LimitsProxy:
        self._server = RelayServer((self.host, self.port), _handler_for(self))
        self._server.serve_in_thread("limits-proxy")
        return self

    def serve_forever(self) -> None:
        self.start()
        threading.Event().wait()

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> LimitsProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _handler_for(proxy: LimitsProxy) -> type[RelayHandler]:
    class Handler(RelayHandler):
        def relay(self) -> None:
            body = self.read_body()
            if self.path.startswith("/_limits/"):
                self._own()
                return
            target = self.headers.get("X-Amz-Target") or ""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                if not target.startswith(TARGET_PREFIX):
                    self.answer(*proxy.upstream.send(self.command, self.path, headers, body))
                    return
                operation = target[len(TARGET_PREFIX):]
                status, answer_headers, answer = proxy.model.handle(operation, json.loads(body or b"{}"),
                                                                    self._forwarder(headers))
            except (OSError, http.client.HTTPException) as failure:
                self.answer(502, {"Content-Type": "text/plain"}, f"limits proxy: upstream failed: {failure}".encode())
                return
            payload = answer if isinstance(answer, bytes) else dumps(answer)
            kept = {k: v for k, v in answer_headers.items() if k.lower() not in ("x-amz-crc32", "content-type")}
            kept["Content-Type"] = "application/x-amz-json-1.0"
            kept["x-amz-crc32"] = str(zlib.crc32(payload) & 0xFFFFFFFF)  # botocore checks it against the body
            self.answer(status, kept, payload)

        def _forwarder(self, headers: dict[str, str]) -> Any:
            def forward(operation: str, request: dict[str, Any]) -> Answer:
                sent = {**headers, "X-Amz-Target": TARGET_PREFIX + operation}
                status, answer_headers, payload = proxy.upstream.send("POST", "/", sent, dumps(request))
                try:
                    parsed: Any = json.loads(payload) if payload else {}
                except ValueError:
                    parsed = payload
                return status, answer_headers, parsed

            return forward

        def _own(self) -> None:
            path = urlsplit(self.path)
            if path.path == "/_limits/stats":
                top = int(parse_qs(path.query).get("top", ["20"])[0])
                self._json(200, proxy.model.snapshot(top))
            elif path.path == "/_limits/reset" and self.command == "POST":
                proxy.model.reset()
                self._json(200, {"reset": True})
            elif path.path == "/_limits/health":
                self._json(200, {"status": "running", "upstream": f"{proxy.upstream.host}:{proxy.upstream.port}"})
            else:
                self._json(404, {"message": f"no such limits endpoint: {self.command} {path.path}"})

        def _json(self, status: int, data: Any) -> None:
            self.answer(status, {"Content-Type": "application/json"}, json.dumps(data).encode())

    return Handler


cli = typer.Typer(add_completion=False, help=__doc__)


@cli.command()
def main(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 4567,
    upstream: Annotated[str, typer.Option(help="the embedded AWS")] = "http://127.0.0.1:4566",
    write_units: Annotated[float, typer.Option(help="write units per second per partition key")] = WRITE_UNITS_PER_KEY,
    read_units: Annotated[float, typer.Option(help="read units per second per partition key")] = READ_UNITS_PER_KEY,
    in_flight_ms: Annotated[float, typer.Option(help="how long a write holds its item")] = IN_FLIGHT_SECONDS * 1000,
) -> None:
    """Serve the limits proxy until stopped."""
    model = DynamoLimits(write_units, read_units, in_flight_seconds=in_flight_ms / 1000)
    proxy = LimitsProxy(upstream, port=port, model=model)
    typer.echo(f"limits proxy on 127.0.0.1:{port} in front of {upstream}", err=True)
    proxy.serve_forever()


if __name__ == "__main__":
    cli()
