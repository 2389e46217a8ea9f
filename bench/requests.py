"""AWS requests per task, by service and operation, and what they bill (DynamoDB capacity units).

Counted on the server side, by the emulator's own audit log: its CloudTrail emulation, switched on through
`POST /_ministack/config` only while a measured job runs, records every request any process sends it: the
Lambda functions running inside it, the workers, other clients. The harness's own requests carry
`tasklane-bench` in their user agent and are left out; other jobs started in the window are reported (they
would inflate the count). The bench's workers also count their own requests on the client side
(TASKLANE_REQUEST_COUNTS_DIR, tasklane/aws/request_counting.py), as a cross-check.

Some requests are not HTTP requests inside the emulator and are modelled, each line marked so: the Lambda
event source mapping's ReceiveMessage and DeleteMessageBatch (one each per runner invocation; invocations are
read from the emulator's log when `make up` started it), Lambda invocations (runner batches, the workflow's
Lambda tasks from the execution history, the API function) and API Gateway calls (one POST per job).
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.common import BENCH_AGENT, LOCAL, Outcome, Skipped, Target, aws_client, gateway
from bench.cost import dynamodb_units
from bench.throughput import LongTaskWorkers, Platform
from tasklane.aws.sqs_queue import TASK_BUNDLE

SETTLE_SECONDS = 1.0  # deletes and the last commits land just after the execution ends
EMULATOR_LOG = LOCAL / "logs" / "ministack.log"
LOOKUP_TARGET = "CloudTrail_20131101.LookupEvents"
# Any credential scope naming cloudtrail routes the call; the emulator does not check signatures.
LOOKUP_AUTH = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, " \
              "Signature=0"


class AuditLog:
    """The emulator's CloudTrail event buffer (a ring of CLOUDTRAIL_MAX_EVENTS, 10,000 by default)."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self.http = httpx.Client(base_url=endpoint_url, timeout=60)
        self.sqs = aws_client("sqs", endpoint_url)
        self.was_on = False

    def __enter__(self) -> AuditLog:
        self.was_on = self._recording()
        if not self.was_on:
            self._set(True)
            if not self._recording():
                raise Skipped("the emulator's audit log (CloudTrail recording) could not be switched on")
        return self

    def __exit__(self, *_: object) -> None:
        if not self.was_on:
            self._set(False)
        self.http.close()

    def mark(self) -> str:
        """A request the log should hold while the window's events are still in its ring."""
        marker = f"tasklane-bench-marker-{uuid.uuid4().hex[:12]}"
        self.sqs.list_queues(QueueNamePrefix=marker)
        return marker

    def events(self, start: float, end: float) -> list[dict[str, Any]]:
        """Every event in [start, end], oldest first (pages of 50, newest first, by end time)."""
        found: dict[str, dict[str, Any]] = {}
        upper = end
        while True:
            page = self._lookup({"StartTime": start, "EndTime": upper, "MaxResults": 50})
            fresh = [e for e in page if e["EventId"] not in found]
            for event in fresh:
                found[event["EventId"]] = event
            if len(page) < 50:
                break
            oldest = min(e["EventTime"] for e in page)
            upper = oldest if fresh else oldest - 1e-6
        return sorted((_flatten(e) for e in found.values()), key=lambda e: e["time"])

    def holds(self, marker: str, start: float) -> bool:
        return any(marker in json.dumps(e["params"]) for e in self.events(start - 1, start + 5)
                   if e["name"] == "ListQueues")

    def _recording(self) -> bool:
        probe_start = time.time()
        marker = self.mark()
        return any(marker in json.dumps(e) for e in self._lookup(
            {"StartTime": probe_start - 1, "EndTime": time.time() + 1, "MaxResults": 50,
             "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "ListQueues"}]}))

    def _set(self, on: bool) -> None:
        response = self.http.post("/_ministack/config", json={"cloudtrail._recording_enabled": str(on).lower()})
        response.raise_for_status()

    def _lookup(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.http.post("/", content=json.dumps(body), headers={
            "X-Amz-Target": LOOKUP_TARGET, "Content-Type": "application/x-amz-json-1.1", "Authorization": LOOKUP_AUTH,
            "User-Agent": BENCH_AGENT,
        })
        response.raise_for_status()
        return list(response.json().get("Events", []))


def _flatten(event: dict[str, Any]) -> dict[str, Any]:
    detail = json.loads(event.get("CloudTrailEvent") or "{}")
    return {
        "name": event["EventName"],
        "service": event["EventSource"].split(".", 1)[0],
        "time": float(event["EventTime"]),
        "agent": detail.get("userAgent", ""),
        "params": detail.get("requestParameters") or {},
        "resources": event.get("Resources") or [],  # an S3 request's bucket and key
    }


JOB_ID = re.compile(r"(?<![0-9a-f-])[0-9a-f]{32}(?![0-9a-f-])")  # uuid4().hex; receipt handles have dashes


def tally(events: list[dict[str, Any]], job_id: str, queue_urls: tuple[str, ...]) -> dict[str, Any]:
    """Request counts by `service:Operation` and DynamoDB capacity units of the requests that belong to the job:
    those that name it (its items, messages, manifest, execution) and those on the platform's task queues that
    name no job (receives, deletes, visibility changes: another consumer's cannot be told apart). The rest in
    the window (the harness's own, other jobs', deploys, sign-ins) is counted apart, by operation."""
    counts: Counter[str] = Counter()
    write_units = read_units = 0.0
    left_out: dict[str, Counter[str]] = {"other jobs": Counter(), "unattributed": Counter()}
    for event in events:
        if BENCH_AGENT in event["agent"]:
            continue
        key = f"{event['service']}:{event['name']}"
        text = json.dumps([event["params"], event["resources"]])
        named = set(JOB_ID.findall(text))
        if job_id not in named:
            if named:
                left_out["other jobs"][key] += 1
                continue
            if not (event["service"] == "sqs" and any(url in text for url in queue_urls)):
                left_out["unattributed"][key] += 1
                continue
        counts[key] += 1
        if event["service"] == "dynamodb":
            wru, rru = dynamodb_units(event["name"], event["params"])
            write_units += wru
            read_units += rru
    return {"requests": dict(sorted(counts.items())), "ddb_write_units": write_units, "ddb_read_units": read_units,
            "left_out": {reason: dict(sorted(c.items())) for reason, c in left_out.items()}}


class RunnerInvocations:
    """Runner invocations and their batch sizes, from the emulator's log lines about its event source mapping."""

    PATTERN = re.compile(r"ESM: Lambda (\S*Runner\S*) processed (\d+) SQS messages from (\S+)")

    def __init__(self, queue_name: str, log: Path = EMULATOR_LOG) -> None:
        self.queue_name = queue_name
        self.log = log
        self.offset = log.stat().st_size if log.exists() else None

    def read(self) -> list[int] | None:
        if self.offset is None or not self.log.exists():
            return None
        with open(self.log, "rb") as handle:
            handle.seek(self.offset)
            text = handle.read().decode(errors="replace")
        return [int(m.group(2)) for m in self.PATTERN.finditer(text) if m.group(3) == self.queue_name]


def measure_job(platform: Platform, audit: AuditLog, tasks: int, runtime: str, api_calls_per_job: int,
                counts_dir: Path | None = None) -> dict[str, Any]:
    queue_url = platform.endpoints["short_queue_url"]
    invocations = RunnerInvocations(queue_url.rsplit("/", 1)[-1])
    workers_before = worker_counts(counts_dir) if counts_dir else {}
    marker_at = time.time()
    marker = audit.mark()
    start = time.time()
    job_id = platform.submit(tasks, runtime, f"bench-requests-{runtime}-{tasks}")
    execution = platform.wait(job_id, timeout=max(120.0, tasks / 10))
    if execution["status"] == "RUNNING":
        platform.abandon(job_id)
        raise Skipped(f"the {tasks:,}-task job on the {runtime} runtime did not end in time")
    time.sleep(SETTLE_SECONDS)
    end = time.time()
    workers_after = worker_counts(counts_dir) if counts_dir else {}
    others = [e["name"] for e in platform.sfn.list_executions(stateMachineArn=platform.state_machine_arn,
                                                              maxResults=100)["executions"]
              if e["name"] != job_id and e["startDate"].timestamp() <= end
              and ("stopDate" not in e or e["stopDate"].timestamp() >= start)]
    queues = tuple(str(platform.endpoints[k]) for k in ("short_queue_url", "long_queue_url", "control_queue_url")
                   if platform.endpoints.get(k))
    counted = tally(audit.events(start, end), job_id, queues)
    truncated = not audit.holds(marker, marker_at)
    history = platform.history(job_id)
    lambda_tasks = sum(1 for e in history if e["type"] == "TaskScheduled"
                       and e.get("taskScheduledEventDetails", {}).get("resourceType") == "lambda")
    transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
    modelled: dict[str, float] = {"apigateway:POST /jobs": api_calls_per_job}
    batches = invocations.read() if runtime == "lambda" else []
    # Each invocation takes up to 10 messages of up to TASK_BUNDLE tasks.
    runner_invocations = len(batches) if batches is not None else math.ceil(tasks / (10 * TASK_BUNDLE))
    if runtime == "lambda":
        modelled["sqs:ReceiveMessage (event source mapping)"] = runner_invocations
        modelled["sqs:DeleteMessageBatch (event source mapping)"] = runner_invocations
    lambda_requests = runner_invocations + lambda_tasks + api_calls_per_job
    modelled["lambda:Invoke"] = lambda_requests
    requests = {**counted["requests"], **{k: float(v) for k, v in modelled.items()}}
    return {
        "runtime": runtime, "tasks": tasks, "job_id": job_id, "status": execution["status"],
        "window_seconds": end - start, "audit_truncated": truncated, "other_executions_in_window": others,
        "left_out": counted["left_out"],
        "bench_workers_client_side": {k: v - workers_before.get(k, 0) for k, v in workers_after.items()
                                      if v - workers_before.get(k, 0)},
        "requests": requests, "modelled": sorted(modelled),
        "requests_total": sum(requests.values()), "requests_per_task": sum(requests.values()) / tasks,
        "by_service_per_task": _by_service(requests, tasks),
        "ddb_write_units": counted["ddb_write_units"], "ddb_read_units": counted["ddb_read_units"],
        "sfn_transitions": transitions, "lambda_requests": lambda_requests,
        "runner_invocations": runner_invocations,
        "runner_batch_sizes": "from the emulator's log" if batches else "modelled: ceil(tasks / 100)",
        "mean_runner_batch": tasks / runner_invocations if runner_invocations and runtime == "lambda" else None,
    }


def _by_service(requests: dict[str, float], tasks: int) -> dict[str, float]:
    services: dict[str, float] = {}
    for key, count in requests.items():
        service = key.split(":", 1)[0]
        services[service] = services.get(service, 0.0) + count
    return {service: count / tasks for service, count in sorted(services.items())}


def fit(jobs: list[dict[str, Any]]) -> dict[str, float] | None:
    """requests(n) = per_job + per_task * n, through the smallest and largest job."""
    if len(jobs) < 2:
        return None
    small, big = min(jobs, key=lambda j: j["tasks"]), max(jobs, key=lambda j: j["tasks"])
    if big["tasks"] == small["tasks"]:
        return None
    per_task = (big["requests_total"] - small["requests_total"]) / (big["tasks"] - small["tasks"])
    return {"per_task": per_task, "per_job": big["requests_total"] - per_task * big["tasks"]}


def celery_requests(endpoint_url: str, tasks: int, log_dir: Path) -> dict[str, Any]:
    """Celery's SQS requests for `tasks` no-op tasks (enqueue to drained), from the same audit log."""
    from bench.celery_baseline import CeleryRun

    with AuditLog(endpoint_url) as audit, CeleryRun(endpoint_url, log_dir) as celery:
        start = time.time()
        run = celery.enqueue_and_drain(tasks, timeout=max(120.0, tasks / 20))
        time.sleep(SETTLE_SECONDS)
        events = [e for e in audit.events(start, time.time())
                  if celery.queue_name in json.dumps(e["params"]) and BENCH_AGENT not in e["agent"]]
    counts: Counter[str] = Counter(f"{e['service']}:{e['name']}" for e in events)
    total = sum(counts.values())
    return {"tasks": tasks, "drained": run["drained"], "requests": dict(sorted(counts.items())),
            "requests_total": total, "requests_per_task": total / tasks}


def worker_counts(counts_dir: Path) -> dict[str, int]:
    """The bench workers' own client-side counts, summed over their processes."""
    total: Counter[str] = Counter()
    for path in sorted(counts_dir.glob("*.json")):
        total.update(json.loads(path.read_text())["counts"])
    return dict(sorted(total.items()))


def run(endpoints: dict[str, Any], sizes: dict[str, list[int]], runtimes: list[str], celery_tasks: int,
        workdir: Path, api_calls_per_job: int = 1) -> Outcome:
    platform = Platform(endpoints)
    jobs: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    counts_dir = workdir / "request-counts"
    try:
        with AuditLog(gateway(endpoints)) as audit:
            for runtime in runtimes:
                fleet = LongTaskWorkers(endpoints, 2, counts_dir, workdir / "logs") if runtime == "eks" else None
                try:
                    if fleet:
                        fleet.__enter__()
                    for size in sizes[runtime]:
                        print(f"requests {runtime}: {size:,} tasks", flush=True)
                        jobs.append(measure_job(platform, audit, size, runtime, api_calls_per_job,
                                                counts_dir if fleet else None))
                except Skipped as reason:
                    skipped[runtime] = str(reason)
                finally:
                    if fleet and fleet.processes:
                        fleet.__exit__()
        print(f"requests celery: {celery_tasks:,} tasks", flush=True)
        celery = celery_requests(gateway(endpoints), celery_tasks, workdir / "logs")
    except Skipped as reason:
        platform.api.close()
        return Outcome("requests", skipped=str(reason))
    platform.api.close()
    data = {
        "jobs": jobs, "skipped": skipped, "celery": celery,
        "fit": {rt: fit([j for j in jobs if j["runtime"] == rt]) for rt in runtimes},
        "eks_worker_client_counts": worker_counts(counts_dir) if counts_dir.exists() else {},
    }
    return Outcome("requests", data, targets(jobs, skipped))


def targets(jobs: list[dict[str, Any]], skipped: dict[str, str]) -> list[Target]:
    found = []
    for runtime in sorted({j["runtime"] for j in jobs}):
        biggest = max((j for j in jobs if j["runtime"] == runtime), key=lambda j: j["tasks"])
        note = "audit log overflowed: a lower bound" if biggest["audit_truncated"] else ""
        if biggest["other_executions_in_window"]:
            note += (f" {len(biggest['other_executions_in_window'])} other job(s) overlapped the window; "
                     f"{sum(biggest['left_out']['other jobs'].values())} requests naming them were left out")
        found.append(Target(
            f"AWS requests per task, {biggest['tasks']:,} tasks ({runtime})", f"{biggest['requests_per_task']:.2f}",
            "<= 0.5", biggest["requests_per_task"] <= 0.5, note.strip(),
        ))
    for runtime, reason in skipped.items():
        found.append(Target(f"AWS requests per task ({runtime})", f"skipped: {reason}", "<= 0.5", None))
    return found
