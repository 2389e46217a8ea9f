"""An HTTP fault proxy in front of the embedded AWS, for the fault-injection tests.

Processes whose AWS_ENDPOINT_URL points at it send every AWS request through it. It forwards them to the
emulator, except that for a configurable fraction of DynamoDB and SQS requests it answers with an error
in that service's protocol instead, and counts what it injected:

- DynamoDB (JSON 1.0): 500 InternalServerError, 503 ServiceUnavailable, 400 ThrottlingException,
  400 ProvisionedThroughputExceededException; the code is the `__type` after its `#`.
- SQS (JSON 1.0, "awsQueryCompatible"): the same statuses, with `__type` and an `x-amzn-query-error:
  <code>;<Sender|Receiver>` header, which botocore prefers for the error code.

Each of these is retryable for botocore's standard retry mode (retries/standard.py): a 500 or 503 is a
transient status, and ThrottlingException, ProvisionedThroughputExceededException and RequestThrottled
are in its throttling codes. None of them has reached the emulator: the request was not applied.

`lost_responses` adds the other kind of fault, by operation ("*" for any): the request is forwarded and
applied, and its answer is replaced by a 500, as when a response is lost on the way back; the SDK then
retries a request that already took effect. `lose_first` does the same to the first N requests of an
operation, for a test that needs it to happen.

It listens on 127.0.0.1 only, on a free port, and stops by itself: when its context ends, and at the latest
after `lifetime_seconds`, closing the connections it still holds.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length"}
SERVICE_IN_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
TARGET_PREFIXES = {"DynamoDB_": "dynamodb", "AmazonSQS.": "sqs", "AWSStepFunctions.": "states"}
UPSTREAM_TIMEOUT_SECONDS = 70.0  # above SQS's longest long poll (20 s)


@dataclass(frozen=True)
class Fault:
    status: int
    code: str  # the error code botocore reports (ClientError.response["Error"]["Code"])
    type: str  # the `__type` of the body
    query_error: str | None = None  # SQS: the x-amzn-query-error header

    def response(self) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps({"__type": self.type, "message": f"injected by the fault proxy: {self.code}"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault-proxy"}
        if self.query_error:
            headers["x-amzn-query-error"] = self.query_error
        return self.status, headers, body


FAULTS: dict[str, list[Fault]] = {
    "dynamodb": [
        Fault(500, "InternalServerError", "com.amazonaws.dynamodb.v20120810#InternalServerError"),
        Fault(503, "ServiceUnavailable", "com.amazonaws.dynamodb.v20120810#ServiceUnavailable"),
        Fault(400, "ThrottlingException", "com.amazon.coral.availability#ThrottlingException"),
        Fault(400, "ProvisionedThroughputExceededException",
              "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"),
    ],
    "sqs": [
        Fault(500, "InternalError", "com.amazonaws.sqs#InternalError", "InternalError;Receiver"),
        Fault(503, "ServiceUnavailable", "com.amazonaws.sqs#ServiceUnavailable", "ServiceUnavailable;Receiver"),
        Fault(400, "ThrottlingException", "com.amazonaws.sqs#ThrottlingException", "ThrottlingException;Sender"),
        Fault(400, "RequestThrottled", "com.amazonaws.sqs#RequestThrottled", "RequestThrottled;Sender"),
    ],
}
LOST_RESPONSE = {
    "dynamodb": Fault(500, "InternalServerError", "com.amazonaws.dynamodb.v20120810#InternalServerError"),
    "sqs": Fault(500, "InternalError", "com.amazonaws.sqs#InternalError", "InternalError;Receiver"),
}


def service_of(headers: Any) -> str:
    target = headers.get("X-Amz-Target") or ""
    for prefix, service in TARGET_PREFIXES.items():
        if target.startswith(prefix):
            return service
    scope = SERVICE_IN_SCOPE.search(headers.get("Authorization") or "")
    return scope.group(1) if scope else "unknown"


class FaultProxy:
    def __init__(
        self,
        upstream: str = "http://127.0.0.1:4566",
        *,
        fraction: float = 0.1,
        lost_responses: dict[str, float] | None = None,
        lose_first: dict[str, int] | None = None,
        services: tuple[str, ...] = ("dynamodb", "sqs"),
        faults: dict[str, list[Fault]] | None = None,
        seed: int | None = None,
        lifetime_seconds: float = 600.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the fault proxy forwards to a loopback address only")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.fraction = fraction
        self.lost_responses = lost_responses or {}
        self._lose_first = Counter(lose_first or {})
        self.services = services
        self.faults = faults or FAULTS
        self.lifetime_seconds = lifetime_seconds
        self.injected: Counter[tuple[str, str, str]] = Counter()  # (service, operation, code)
        self.lost: Counter[tuple[str, str]] = Counter()  # (service, operation) answered 500 after applying
        self.forwarded: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None
        self._stopped = threading.Event()

    # --- life ------------------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        proxy = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def process_request(self, request: Any, client_address: Any) -> None:
                with proxy._lock:
                    proxy._connections.add(request)
                super().process_request(request, client_address)

            def shutdown_request(self, request: Any) -> None:
                with proxy._lock:
                    proxy._connections.discard(request)
                super().shutdown_request(request)

        self._server = Server(("127.0.0.1", 0), _handler_for(self))
        threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True).start()
        self._timer = threading.Timer(self.lifetime_seconds, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopped.is_set() or self._server is None:
            return
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            held = list(self._connections)
        for connection in held:  # keep-alive connections would otherwise keep their threads waiting
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the proxy first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    # --- what it did -----------------------------------------------------------------------------------

    def injected_total(self, service: str | None = None) -> int:
        with self._lock:
            return sum(n for (s, _, _), n in self.injected.items() if service in (None, s))

    def lost_total(self, service: str | None = None) -> int:
        with self._lock:
            return sum(n for (s, _), n in self.lost.items() if service in (None, s))

    def summary(self) -> dict[str, Any]:
        with self._lock:
            by_code: Counter[str] = Counter()
            for (service, _, code), n in self.injected.items():
                by_code[f"{service} {code}"] += n
            by_operation: Counter[str] = Counter()
            for (service, operation, _), n in self.injected.items():
                by_operation[f"{service} {operation}"] += n
            return {
                "forwarded": dict(self.forwarded),
                "injected": sum(self.injected.values()),
                "injected_by_code": dict(sorted(by_code.items())),
                "injected_by_operation": dict(sorted(by_operation.items())),
                "lost_responses": dict(sorted((f"{s} {o}", n) for (s, o), n in self.lost.items())),
            }

    # --- deciding --------------------------------------------------------------------------------------

    def _decide(self, service: str, operation: str) -> tuple[Fault | None, bool]:
        """(a fault to answer instead of forwarding, whether to lose the response after forwarding)."""
        if service not in self.services:
            return None, False
        lose = self.lost_responses.get(operation, self.lost_responses.get("*", 0.0))
        with self._lock:
            if self._lose_first[operation] > 0:
                self._lose_first[operation] -= 1
                return None, True
            if self._random.random() < self.fraction:
                return self._random.choice(self.faults[service]), False
            return None, self._random.random() < lose

    def _record(self, service: str, operation: str, fault: Fault | None, lost: bool) -> None:
        with self._lock:
            if fault is not None:
                self.injected[(service, operation, fault.code)] += 1
            else:
                self.forwarded[service] += 1
                if lost:
                    self.lost[(service, operation)] += 1


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._relay()

        do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

        def _relay(self) -> None:
            body = self._body()
            service = service_of(self.headers)
            operation = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2] or self.command
            fault, lose = proxy._decide(service, operation)
            if fault is not None:
                proxy._record(service, operation, fault, False)
                self._answer(*fault.response())
                return
            try:
                status, headers, payload = self._forward(body)
            except OSError as exc:
                self._answer(502, {"Content-Type": "text/plain"}, f"fault proxy: upstream failed: {exc}".encode())
                return
            proxy._record(service, operation, None, lose)
            if lose:
                self._answer(*LOST_RESPONSE[service].response())
                return
            self._answer(status, headers, payload)

        def _body(self) -> bytes:
            if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
                chunks = []
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

        def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
            upstream = http.client.HTTPConnection(
                proxy.upstream_host, proxy.upstream_port, timeout=UPSTREAM_TIMEOUT_SECONDS
            )
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
                headers["Content-Length"] = str(len(body))
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
                return response.status, kept, payload
            finally:
                upstream.close()

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler
