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

Under the platform's limits mode (`make up LIMITS=aws`), DynamoDB requests go on to the limits proxy
(`dynamodb_upstream`) rather than to the emulator, so the faults come on top of AWS's per-key limits.

It listens on 127.0.0.1 only, on a free port, and stops by itself: when its context ends, and at the latest
after `lifetime_seconds`, closing the connections it still holds.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from localaws.relay import RelayHandler, RelayServer, loopback

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
        dynamodb_upstream: str | None = None,
    ) -> None:
        self.upstream_host, self.upstream_port = loopback(upstream)
        self.upstreams = {"dynamodb": loopback(dynamodb_upstream)} if dynamodb_upstream else {}
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
        self._server: RelayServer | None = None
        self._timer: threading.Timer | None = None
        self._stopped = threading.Event()

    # --- life ------------------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._server = RelayServer(("127.0.0.1", 0), _handler_for(self))
        self._server.serve_in_thread("fault-proxy")
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
        self._server.close()  # keep-alive connections would otherwise keep their threads waiting

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


def _handler_for(proxy: FaultProxy) -> type[RelayHandler]:
    class Handler(RelayHandler):
        def relay(self) -> None:
            body = self.read_body()
            service = service_of(self.headers)
            operation = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2] or self.command
            fault, lose = proxy._decide(service, operation)
            if fault is not None:
                proxy._record(service, operation, fault, False)
                self.answer(*fault.response())
                return
            try:
                status, headers, payload = self._forward(body, service)
            except OSError as exc:
                self.answer(502, {"Content-Type": "text/plain"}, f"fault proxy: upstream failed: {exc}".encode())
                return
            proxy._record(service, operation, None, lose)
            if lose:
                self.answer(*LOST_RESPONSE[service].response())
                return
            self.answer(status, headers, payload)

        def _forward(self, body: bytes, service: str) -> tuple[int, dict[str, str], bytes]:
            host, port = proxy.upstreams.get(service, (proxy.upstream_host, proxy.upstream_port))
            upstream = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT_SECONDS)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Host"] = f"{host}:{port}"
                headers["Content-Length"] = str(len(body))
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
                return response.status, kept, payload
            finally:
                upstream.close()

    return Handler
