"""API latency: POST /jobs (10 tasks) and GET /jobs/{id}, p50/p95/p99.

Through the local API Gateway with httpx at 1 and 16 concurrent clients (each its own connection), and the
handler's own time in-process: `lambdas.api.handler.lambda_handler` called with a REST proxy event over
in-memory stand-ins for the job store, the manifests and the workflow, warm, many iterations.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import httpx

from bench.common import Outcome, Target, api_headers
from bench.stats import summary

TEN_TASKS = {"name": "bench-latency", "tasks": [{"type": "echo", "payload": {"i": i}} for i in range(10)]}
HANDLER_P99_TARGET_MS = 20.0


# --- through the API Gateway ----------------------------------------------------------------------------


def _timed(client: httpx.Client, method: str, path: str, body: bytes | None) -> tuple[float, str]:
    """Milliseconds and the status (or the transport error's name)."""
    started = time.perf_counter()
    try:
        status = str(client.request(method, path, content=body).status_code)
    except httpx.HTTPError as failure:
        status = type(failure).__name__
    return (time.perf_counter() - started) * 1000, status


def over_http(api_url: str, headers: dict[str, str], method: str, path: str, body: bytes | None,
              clients: int, requests: int) -> dict[str, Any]:
    """`requests` calls spread over `clients` threads, each with its own connection; latencies (ms) of the
    successful ones, and the count of every other answer."""
    per_client = max(1, requests // clients)
    headers = {**headers, "content-type": "application/json"}

    def one_client(_: int) -> list[tuple[float, str]]:
        with httpx.Client(base_url=api_url, headers=headers, timeout=60) as client:
            _timed(client, method, path, body)  # connection up and this client's function instance warm
            return [_timed(client, method, path, body) for _ in range(per_client)]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        answers = [answer for batch in pool.map(one_client, range(clients)) for answer in batch]
    seconds = time.perf_counter() - started
    latencies = [ms for ms, status in answers if status.startswith("2")]
    errors: dict[str, int] = {}
    for _, status in answers:
        if not status.startswith("2"):
            errors[status] = errors.get(status, 0) + 1
    return {"clients": clients, "requests_per_second": len(answers) / seconds, "errors": errors,
            "ms": summary(latencies) if latencies else None}


def gateway_latency(endpoints: dict[str, Any], requests: int, concurrency: tuple[int, ...] = (1, 16)) -> dict[str, Any]:
    """`requests` calls per route and concurrency; GET /health (no AWS call behind it) is the emulator's floor."""
    api_url = str(endpoints["api_url"])
    headers = api_headers(endpoints)
    body = json.dumps(TEN_TASKS).encode()
    with httpx.Client(base_url=api_url, headers={**headers, "content-type": "application/json"}, timeout=60) as c:
        job_id = c.post("jobs", content=body).json()["job_id"]
    out: dict[str, Any] = {"GET /health, 1 client": over_http(api_url, headers, "GET", "health", None, 1, requests)}
    for clients in concurrency:
        # A warm-up round at this concurrency, so the emulator has one warm function process per client.
        over_http(api_url, headers, "GET", f"jobs/{job_id}", None, clients, clients)
        out[f"GET /jobs/{{id}}, {clients} clients"] = over_http(
            api_url, headers, "GET", f"jobs/{job_id}", None, clients, requests)
        out[f"POST /jobs (10 tasks), {clients} clients"] = over_http(
            api_url, headers, "POST", "jobs", body, clients, requests)
    return out


# --- in-process -----------------------------------------------------------------------------------------


class _Store:
    def __init__(self) -> None:
        self.jobs: dict[str, Any] = {}

    def create_job(self, job: Any) -> None:
        self.jobs[job.job_id] = job

    def get_job(self, job_id: str) -> Any:
        return self.jobs.get(job_id)


class _Manifests:
    def put(self, job_id: str, spec: Any) -> None:
        self.last = (job_id, spec)

    def put_json(self, job_id: str, manifest: bytes) -> None:
        self.last = (job_id, manifest)


class _Workflow:
    def start(self, job_id: str, execution_input: dict[str, Any]) -> None:
        self.last = (job_id, execution_input)


@dataclass
class _Context:
    function_name: str = "tasklane-bench-api"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:tasklane-bench-api"
    memory_limit_in_mb: int = 1769
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/tasklane-bench-api"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def rest_event(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, with the context a TOKEN authorizer would add."""
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": {"content-type": "application/json", "Host": "api.bench.local"},
        "multiValueHeaders": {"content-type": ["application/json"], "Host": ["api.bench.local"]},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000", "apiId": "bench", "httpMethod": method, "path": f"/v1{path}",
            "protocol": "HTTP/1.1", "requestId": "bench", "resourcePath": "/{proxy+}", "stage": "v1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "tasklane-bench"},
            "authorizer": {"principalId": "bench", "tenant": "default"},
        },
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


def handler_latency(iterations: int, warmup: int = 200) -> dict[str, Any]:
    from lambdas.api import handler
    from tasklane.jobs import JobServices
    from tasklane.task_packages import task_registry

    ids = (f"job{i:08d}" for i in range(10**9))
    lock = threading.Lock()

    def new_id() -> str:
        with lock:
            return next(ids)

    services = JobServices(store=cast(Any, _Store()), manifests=cast(Any, _Manifests()),
                           workflow=cast(Any, _Workflow()), registry=task_registry(), new_job_id=new_id)
    context = cast(Any, _Context())
    with handler.services.override(services):
        post = rest_event("POST", "/jobs", TEN_TASKS)
        first = handler.lambda_handler(post, context)
        if first["statusCode"] != 201:
            raise RuntimeError(f"POST /jobs in-process answered {first['statusCode']}: {first.get('body')}")
        job_id = json.loads(first["body"])["job_id"]
        get = rest_event("GET", f"/jobs/{job_id}")
        out = {}
        for name, event in (("POST /jobs (10 tasks)", post), ("GET /jobs/{id}", get)):
            for _ in range(warmup):
                handler.lambda_handler(event, context)
            latencies = []
            for _ in range(iterations):
                started = time.perf_counter()
                handler.lambda_handler(event, context)
                latencies.append((time.perf_counter() - started) * 1000)
            out[name] = {"iterations": iterations, "ms": summary(latencies)}
        return out


def reported(gateway: dict[str, Any]) -> list[Target]:
    """The gateway figures as table rows (no target was promised for them)."""
    rows = []
    for name, entry in gateway.items():
        ms = entry.get("ms")
        errors = f", errors {entry['errors']}" if entry.get("errors") else ""
        figure = f"p50/p95/p99 {ms['p50']:.0f}/{ms['p95']:.0f}/{ms['p99']:.0f} ms" if ms else "no success"
        rows.append(Target(f"API via gateway: {name}", figure + errors, "(reported)", None))
    return rows


def run(endpoints: dict[str, Any] | None, http_requests: int, iterations: int) -> Outcome:
    in_process = handler_latency(iterations)
    data: dict[str, Any] = {"in_process": in_process}
    if endpoints:
        data["gateway"] = gateway_latency(endpoints, http_requests)
    p99 = in_process["POST /jobs (10 tasks)"]["ms"]["p99"]
    targets = [Target("handler p99, POST /jobs (10 tasks), in-process", f"{p99:.2f} ms", "< 20 ms",
                      p99 < HANDLER_P99_TARGET_MS)]
    return Outcome("latency", data, targets)
