"""Fault injection on the embedded AWS, through the public API: no task is lost, none is counted twice.

The module stops the long-task workers `make up` started (`local_platform up --workers 0`) and brings
them back at the end (`--workers 2`), so that only each test's own `python -m workers` processes consume
the long-task queue. Those run with a short visibility timeout (10 s, heartbeat every 3 s), so a killed
worker's messages come back quickly, and are started and stopped by their own process ids.

Every test checks the same things at the end: the job's final status, its exact counts, one final result
per task, and, in the task items in DynamoDB, exactly one SUCCEEDED entry in each task's history.
The fault tests print a `FIGURES` line each (tasks, redeliveries, faults injected, lost, duplicates), which
docs/RELIABILITY.md quotes.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config
from botocore.exceptions import ClientError
from fault_proxy import FAULTS, Fault, FaultProxy

from cli.client import TasklaneClient, local_endpoints
from tasklane.models import tasks_in

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
MAKE_UP_WORKERS = 2
# The test's own workers: a killed worker's messages come back 10 s after their last extension at most.
WORKER_ENV = {
    "WORKER_VISIBILITY_SECONDS": "10",
    "WORKER_HEARTBEAT_SECONDS": "3",
    "WORKER_POLL_WAIT_SECONDS": "2",  # a drain waits for the outstanding long poll
    "WORKER_DRAIN_SECONDS": "30",
    "WORKER_CONCURRENCY": "4",
}
_deserialize = TypeDeserializer().deserialize


# --- the module's workers ---------------------------------------------------------------------------------


def _set_make_up_workers(count: int) -> str:
    """`local_platform up --workers N`. When `up` cannot finish (another CLI holds cdk.out, or a stack being
    edited does not deploy), its worker step alone: the same stop or start by recorded pid."""
    command = [PYTHON, "-m", "scripts.local_platform", "up", "--workers", str(count)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode == 0:
        return "local_platform up"
    from scripts import local_platform

    local_platform.ensure_workers(count, local_endpoints())
    why = [line for line in (done.stderr + done.stdout).splitlines() if "rror" in line][-1:] or ["?"]
    return f"local_platform.ensure_workers, as `up` failed: {why[0].strip()[:200]}"


@pytest.fixture(scope="module", autouse=True)
def only_the_tests_own_workers() -> Iterator[None]:
    how = _set_make_up_workers(0)
    print(f"make-up workers stopped via {how}")
    try:
        yield
    finally:
        how = _set_make_up_workers(MAKE_UP_WORKERS)
        print(f"make-up workers restored ({MAKE_UP_WORKERS}) via {how}")


class Workers:
    """`python -m workers` processes of one test, with the platform's worker environment (worker_env)."""

    def __init__(self, endpoints: dict[str, Any], log_dir: Path) -> None:
        self.endpoints = endpoints
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.health_ports: dict[str, int] = {}

    def start(self, name: str, extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        from scripts.local_platform import worker_env

        self.health_ports[name] = port = free_port()
        health = {"WORKER_HEALTH_HOST": "127.0.0.1", "WORKER_HEALTH_PORT": str(port)}
        env = worker_env(self.endpoints, {**WORKER_ENV, **health, **(extra or {})})
        log = self.log(name)
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [PYTHON, "-m", "workers"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.processes[name] = process
        deadline = time.monotonic() + 60
        while "worker started" not in log.read_text(errors="replace"):
            assert process.poll() is None, f"worker {name} exited {process.returncode}: {log.read_text()[-800:]}"
            assert time.monotonic() < deadline, f"worker {name} did not start: {log.read_text()[-800:]}"
            time.sleep(0.1)
        return process

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def metrics(self, names: list[str] | None = None) -> Counter[str]:
        """The workers' /metrics counters, summed over the workers (all, or those named) still running."""
        total: Counter[str] = Counter()
        for name, process in self.processes.items():
            if process.poll() is None and name in (names or self.processes):
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health_ports[name]}/metrics", timeout=5) as r:
                    for line in r.read().decode().splitlines():
                        if line and not line.startswith("#"):
                            metric, value = line.rsplit(" ", 1)
                            total[metric] += int(float(value))
        return total

    def tails(self) -> str:
        """The end of every worker's log, for a failure's message."""
        return "\n".join(f"--- {name}\n{self.log(name).read_text(errors='replace')[-1500:]}" for name in self.processes)

    def stop_all(self, grace_seconds: float = 20.0) -> None:
        running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def dynamodb_upstream(endpoints: dict[str, Any]) -> str:
    """Where DynamoDB requests go after the fault proxy: the limits proxy in limits mode, else the emulator."""
    return str(endpoints.get("dynamodb_endpoint_url") or endpoints["aws_endpoint_url"])


def through(proxy: FaultProxy) -> dict[str, str]:
    """A worker environment whose every AWS request, DynamoDB's included, goes through `proxy`."""
    return {"AWS_ENDPOINT_URL": proxy.url, "AWS_ENDPOINT_URL_S3": proxy.url, "AWS_ENDPOINT_URL_DYNAMODB": proxy.url}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_up_workers_alive() -> list[int]:
    from scripts import local_platform

    return [pid for f in sorted(local_platform.PIDS.glob("worker-*.pid")) if (pid := local_platform._recorded(f.stem))]


@pytest.fixture
def workers(endpoints: dict[str, Any], tmp_path: Path) -> Iterator[Workers]:
    if make_up_workers_alive():  # started again meanwhile by another `make up`: the queue must be ours
        from scripts import local_platform

        local_platform.ensure_workers(0, endpoints)
    own = Workers(endpoints, tmp_path)
    try:
        yield own
    finally:
        own.stop_all()


# --- reading what happened --------------------------------------------------------------------------------


def task_items(aws: Callable[[str], Any], endpoints: dict[str, Any], job_id: str) -> dict[str, dict[str, Any]]:
    """The job's task items as stored in DynamoDB (strongly consistent), by task id, from every shard."""
    items = []
    for shard in range(int(job_item(aws, endpoints, job_id)["shards"])):
        pages = aws("dynamodb").get_paginator("query").paginate(
            TableName=endpoints["table_name"], ConsistentRead=True,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :task)",
            ExpressionAttributeValues={":pk": {"S": f"JOB#{job_id}#{shard}"}, ":task": {"S": "TASK#"}},
        )
        items += [{k: _deserialize(v) for k, v in item.items()} for page in pages for item in page["Items"]]
    return {item["sk"].removeprefix("TASK#"): item for item in items}


def assert_every_task_succeeded_once(
    api: TasklaneClient, aws: Callable[[str], Any], endpoints: dict[str, Any], job: dict[str, Any], total: int,
    results: Callable[[int], Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """SUCCEEDED, exact counts, one result per task, one SUCCEEDED history entry per task; returns the items."""
    job_id = job["job_id"]
    assert job["status"] == "SUCCEEDED", job
    assert job["counts"] == {"total": total, "pending": 0, "running": 0, "succeeded": total, "failed": 0,
                             "cancelled": 0}
    listed = api.tasks(job_id)
    assert len(listed) == total and len({t["task_id"] for t in listed}) == total
    assert Counter(t["status"] for t in listed) == {"SUCCEEDED": total}
    if results is not None:
        assert [t["result"] for t in sorted(listed, key=lambda t: t["index"])] == [results(i) for i in range(total)]
    items = task_items(aws, endpoints, job_id)
    assert sorted(items) == sorted(t["task_id"] for t in listed)
    for task_id, item in items.items():
        history = item.get("history", [])
        succeeded = [h for h in history if h["status"] == "SUCCEEDED"]
        assert len(succeeded) == 1, (task_id, history)
        assert history[-1] is succeeded[0], (task_id, history)  # nothing recorded after the success
        assert succeeded[0]["attempt"] == item["attempts"], (task_id, item["attempts"], history)
        assert item["status"] == "SUCCEEDED" and "result_json" in item
    return items


def finish(api: TasklaneClient, job_id: str, timeout: float, workers: Workers) -> dict[str, Any]:
    """The job once it ended; when it does not end in time, a failure that shows the workers' logs."""
    try:
        return api.wait(job_id, timeout=timeout)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{workers.tails()}") from None


def sleeps(count: int, seconds: float) -> list[dict[str, Any]]:
    return [{"type": "sleep", "payload": {"seconds": seconds}, "runtime": "eks"} for _ in range(count)]


def wait_for(condition: Callable[[], Any], timeout: float, interval: float = 0.25, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what or condition}"
        time.sleep(interval)
    return value


def queue_depth(aws: Callable[[str], Any], url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed"]
    attributes = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)


def figures(name: str, **values: Any) -> None:
    print(f"FIGURES {name} " + json.dumps(values, sort_keys=True))


def seconds_between(earlier: str, later: str) -> float:
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # noqa: E731
    return (parse(later) - parse(earlier)).total_seconds()


# --- 1. a worker killed mid-job ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_worker_killed_mid_job_loses_no_task_and_counts_none_twice(
    api: TasklaneClient, aws: Callable[[str], Any], endpoints: dict[str, Any], workers: Workers
) -> None:
    # Given two workers running a job of 2,000 short sleeps
    total = 2000
    doomed = workers.start("doomed")
    workers.start("survivor")
    job_id = api.submit({"name": "sigkill", "tasks": sleeps(total, 0.05)})["job_id"]

    # When one of them is killed (SIGKILL: no drain, no hand-back) a quarter of the way through
    at_kill = wait_for(lambda: (j := api.job(job_id))["counts"]["succeeded"] >= total // 4 and j, 180, 0.2,
                       "a quarter of the tasks")
    others = make_up_workers_alive()  # started meanwhile by another `make up`: reported with the figures
    doomed.send_signal(signal.SIGKILL)
    assert doomed.wait(timeout=10) == -signal.SIGKILL

    # Then the job still succeeds: the killed worker's messages came back after their visibility timeout
    job = finish(api, job_id, 300, workers)
    items = assert_every_task_succeeded_once(api, aws, endpoints, job, total, lambda i: {"slept": 0.05})
    attempts = Counter(int(item["attempts"]) for item in items.values())
    redelivered = total - attempts[1]
    # What the killed worker held (running, or committed but not yet deleted) was delivered again
    assert redelivered >= 1, attempts
    figures("sigkill", tasks=total, succeeded=job["counts"]["succeeded"], attempts=dict(attempts),
            redelivered=redelivered, running_at_kill=at_kill["counts"]["running"],
            succeeded_at_kill=at_kill["counts"]["succeeded"], other_workers_at_kill=len(others), lost=0,
            duplicates=0)


# --- 2. a worker stopped with SIGTERM ---------------------------------------------------------------------


def test_sigterm_drains_what_the_worker_holds_and_nothing_is_redelivered(
    api: TasklaneClient, aws: Callable[[str], Any], endpoints: dict[str, Any], workers: Workers
) -> None:
    # Given one worker (4 slots) holding 4 tasks of a 12-task job, every slot busy; each task runs 12 s,
    # longer than the 10 s its message stays hidden unless the worker's heartbeats extend it
    total, seconds = 12, 12.0
    drained = workers.start("drained")
    job_id = api.submit({"name": "sigterm", "tasks": sleeps(total, seconds)})["job_id"]
    wait_for(lambda: api.job(job_id)["counts"]["running"] == 4, 60, 0.1, "4 running tasks")
    held = {t["task_id"] for t in api.tasks(job_id, status="RUNNING")}
    assert len(held) == 4

    # When it is asked to stop, and another worker with room to spare starts polling the same queue at once
    signalled = time.monotonic()
    drained.send_signal(signal.SIGTERM)
    workers.start("successor", {"WORKER_CONCURRENCY": "12"})
    started_by_drained = 0
    while drained.poll() is None and time.monotonic() - signalled < seconds + 10:
        with contextlib.suppress(OSError):  # its health server stops just before it exits
            started_by_drained = workers.metrics(["drained"])["tasks_started_total"]
        time.sleep(0.5)

    # Then it finishes what it holds within its grace period and exits 0, having started nothing more
    assert drained.wait(timeout=float(WORKER_ENV["WORKER_DRAIN_SECONDS"]) + 10) == 0, workers.tails()
    drained_in = time.monotonic() - signalled
    assert drained_in < seconds + 5, workers.tails()
    assert started_by_drained == 4
    log = workers.log("drained").read_text()
    assert "draining" in log and "drained" in log and "exiting with tasks still running" not in log, log

    # And none of its tasks was redelivered: their messages stayed hidden past the visibility timeout while the
    # successor polled, and none was handed back. Every attempt of the job is the first.
    job = finish(api, job_id, 90, workers)
    items = assert_every_task_succeeded_once(api, aws, endpoints, job, total, lambda i: {"slept": seconds})
    assert {task_id: item["attempts"] for task_id, item in items.items()} == {task_id: 1 for task_id in items}
    figures("sigterm", tasks=total, task_seconds=seconds, visibility_seconds=WORKER_ENV["WORKER_VISIBILITY_SECONDS"],
            held_at_signal=len(held), started_after_signal=started_by_drained - len(held),
            drained_seconds=round(drained_in, 2), exit_code=0, redelivered=0, lost=0, duplicates=0)


# --- 3. the same message delivered twice ------------------------------------------------------------------


def receive_one_of(aws: Callable[[str], Any], url: str, job_id: str) -> dict[str, Any]:
    """Receive one real task message of the job (hidden for 60 s; it may carry several tasks); others go back."""
    sqs = aws("sqs")

    def receive() -> dict[str, Any] | None:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                       VisibilityTimeout=60, MessageAttributeNames=["All"])
        for message in response.get("Messages", []):
            if tasks_in(message["Body"])[0].job_id == job_id:
                return dict(message)
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        return None

    return dict(wait_for(receive, 60, 0, "a task message of the job"))


def send_copy(aws: Callable[[str], Any], url: str, message: dict[str, Any]) -> None:
    aws("sqs").send_message(QueueUrl=url, MessageBody=message["Body"],
                            MessageAttributes=message.get("MessageAttributes", {}))


def test_the_same_message_delivered_more_than_once_is_counted_once(
    api: TasklaneClient, aws: Callable[[str], Any], endpoints: dict[str, Any], workers: Workers
) -> None:
    long_queue, short_queue = endpoints["long_queue_url"], endpoints["short_queue_url"]
    # Given a job of long tasks, dispatched while no worker runs, and one of its real messages in hand
    total = 10
    tasks = [{"type": "echo", "payload": {"n": i}, "runtime": "eks"} for i in range(total)]
    job_id = api.submit({"name": "duplicates", "tasks": tasks})["job_id"]
    original = receive_one_of(aws, long_queue, job_id)
    task_ids = [task.task_id for task in tasks_in(original["Body"])]
    carried = len(task_ids)

    # When two copies are sent, and the original is let go at once: three deliveries of its tasks, together
    send_copy(aws, long_queue, original)
    send_copy(aws, long_queue, original)
    aws("sqs").change_message_visibility(QueueUrl=long_queue, ReceiptHandle=original["ReceiptHandle"],
                                         VisibilityTimeout=0)
    workers.start("first")
    workers.start("second")

    # Then each task is counted once, with one result
    job = finish(api, job_id, 120, workers)
    items = assert_every_task_succeeded_once(api, aws, endpoints, job, total, lambda i: {"n": i})
    before = {task_id: items[task_id] for task_id in task_ids}
    # And the two extra deliveries were run or claimed in vain, and acknowledged without a record
    settled = lambda n: (m := workers.metrics())["tasks_discarded_total"] >= n and m["tasks_in_flight"] == 0 and m  # noqa: E731
    metrics = wait_for(lambda: settled(2 * carried), 30, 0.5, "the two duplicates to be discarded")
    assert metrics["tasks_succeeded_total"] == total and metrics["tasks_discarded_total"] == 2 * carried, metrics
    assert metrics["tasks_errors_total"] == 0 and metrics["tasks_retried_total"] == 0, metrics

    # And a copy delivered after the job ended, to the workers and to the Lambda runner, changes nothing
    send_copy(aws, long_queue, original)
    wait_for(lambda: settled(3 * carried), 30, 0.5, "the late duplicate to be discarded")
    send_copy(aws, short_queue, original)
    wait_for(lambda: queue_depth(aws, short_queue) == 0, 60, 0.5, "the Lambda runner to take the copy")
    time.sleep(1)
    job_after = api.job(job_id)
    assert job_after["status"] == "SUCCEEDED" and job_after["counts"] == job["counts"]
    after = task_items(aws, endpoints, job_id)
    assert {task_id: after[task_id] for task_id in task_ids} == before
    assert workers.metrics()["tasks_succeeded_total"] == total
    figures("duplicates", tasks=total, tasks_in_the_message=carried, copies_sent=4, deliveries_of_each=5,
            attempts_of_each=sorted({int(item["attempts"]) for item in before.values()}), counted_each=1,
            discarded_by_workers=3 * carried, lost=0, duplicates=0)


# --- 4. retries with growing delays -----------------------------------------------------------------------


def test_a_task_failing_twice_succeeds_on_attempt_three_after_growing_delays(
    api: TasklaneClient, aws: Callable[[str], Any], endpoints: dict[str, Any], workers: Workers
) -> None:
    # Given tasks that fail their first two attempts, on both runtimes
    per_runtime = 4
    workers.start("retrier")
    tasks = [{"type": "fail", "payload": {"fail_times": 2}, "max_attempts": 3, "runtime": runtime}
             for runtime in ("lambda", "eks") for _ in range(per_runtime)]
    job_id = api.submit({"name": "backoff", "tasks": tasks})["job_id"]

    # When the job runs, Then each succeeds on attempt 3
    job = finish(api, job_id, 120, workers)
    items = assert_every_task_succeeded_once(api, aws, endpoints, job, len(tasks),
                                             lambda i: {"succeeded_on_attempt": 3})
    # And the delay after attempt n (equal jitter, base 2 s: in [2^(n-1), 2^n] s, rounded up to whole seconds
    # by SQS) separates each attempt from the next: at least that long, at most that plus the time to receive
    # and run the next attempt
    slack = 3.0
    gaps: list[tuple[float, float]] = []
    for item in items.values():
        history = item["history"]
        assert [(h["attempt"], h["status"]) for h in history] == [(1, "PENDING"), (2, "PENDING"), (3, "SUCCEEDED")]
        first = seconds_between(history[0]["finished_at"], history[1]["finished_at"])
        second = seconds_between(history[1]["finished_at"], history[2]["finished_at"])
        assert 1.0 <= first <= 2.0 + slack, (first, history)
        assert 2.0 <= second <= 4.0 + slack, (second, history)
        gaps.append((first, second))
    # And the delays grow: SQS hides attempt 2 for 1-2 s and attempt 3 for 3-4 s
    assert all(second > first for first, second in gaps), gaps
    figures("backoff", tasks=len(tasks), gaps=[(round(a, 2), round(b, 2)) for a, b in gaps], lost=0, duplicates=0)


# --- 6. AWS errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("service,fault", [(s, f) for s, faults in FAULTS.items() for f in faults],
                         ids=lambda v: v if isinstance(v, str) else v.code)
def test_the_fault_proxy_answers_in_each_protocol_and_botocore_retries_it(
    endpoints: dict[str, Any], service: str, fault: Fault
) -> None:
    import boto3

    with FaultProxy(endpoints["aws_endpoint_url"], fraction=1.0, faults={service: [fault]},
                    lifetime_seconds=60) as proxy:
        client = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                       region_name="us-east-1").client(
            service, endpoint_url=proxy.url, config=Config(retries={"mode": "standard", "max_attempts": 2}))
        with pytest.raises(ClientError) as raised:
            if service == "dynamodb":
                client.describe_table(TableName=endpoints["table_name"])
            else:
                client.get_queue_attributes(QueueUrl=endpoints["long_queue_url"], AttributeNames=["All"])
        assert raised.value.response["Error"]["Code"] == fault.code
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == fault.status
        # Retried by the SDK: every attempt reached the proxy, and none reached the emulator
        assert raised.value.response["ResponseMetadata"]["RetryAttempts"] >= 1
        assert proxy.injected_total(service) == raised.value.response["ResponseMetadata"]["RetryAttempts"] + 1
        assert proxy.forwarded[service] == 0
    assert proxy.stopped


@pytest.mark.slow
def test_a_job_survives_injected_aws_errors(
    api: TasklaneClient, aws: Callable[[str], Any], endpoints: dict[str, Any], workers: Workers
) -> None:
    # Given two workers whose every AWS request goes through the fault proxy: about one DynamoDB or SQS request
    # in seven answered by a 5xx or a throttling error, and a few answered by a 500 after they took effect
    quick, slow = 1000, 80
    total = quick + slow
    with FaultProxy(endpoints["aws_endpoint_url"], fraction=0.15, lost_responses={"*": 0.02}, seed=7,
                    lifetime_seconds=360, dynamodb_upstream=dynamodb_upstream(endpoints)) as proxy:
        through_proxy = through(proxy)
        workers.start("faulty-1", through_proxy)
        workers.start("faulty-2", through_proxy)

        # When a job of quick long-runtime tasks (ten to a message, committed together) runs on them, with
        # tasks slow enough to be claimed RUNNING first
        tasks = [{"type": "echo", "payload": {"n": i}, "runtime": "eks"} for i in range(quick)]
        tasks += [{"type": "sleep", "payload": {"seconds": 1.2}, "runtime": "eks"} for _ in range(slow)]
        job_id = api.submit({"name": "aws errors", "tasks": tasks})["job_id"]
        job = finish(api, job_id, 300, workers)
        workers.stop_all()
        summary = proxy.summary()

    # Then it succeeds, every task counted once with its own result, and the proxy really got in the way
    assert proxy.stopped
    items = assert_every_task_succeeded_once(
        api, aws, endpoints, job, total, lambda i: {"n": i} if i < quick else {"slept": 1.2}
    )
    assert proxy.injected_total("dynamodb") > 20 and proxy.injected_total("sqs") > 5, summary
    assert proxy.lost_total() > 0, summary
    attempts = Counter(int(item["attempts"]) for item in items.values())
    figures("aws_errors", tasks=total, faults_injected=summary["injected"],
            faults_by_code=summary["injected_by_code"], lost_responses=proxy.lost_total(),
            requests_forwarded=summary["forwarded"], attempts=dict(attempts), lost=0, duplicates=0)


def job_item(aws: Callable[[str], Any], endpoints: dict[str, Any], job_id: str) -> dict[str, Any]:
    """The job's head item (the workflow's token is beside its metadata; `waiting` says it was saved)."""
    item = aws("dynamodb").get_item(TableName=endpoints["table_name"], ConsistentRead=True,
                                    Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}}).get("Item", {})
    return {k: _deserialize(v) for k, v in item.items()}


def test_a_lost_answer_to_the_claim_that_resumes_the_job_still_resumes_it(
    api: TasklaneClient, aws: Callable[[str], Any], endpoints: dict[str, Any], workers: Workers
) -> None:
    # Given a job whose workflow waits on its task token, and a worker whose first DynamoDB UpdateItem takes
    # effect but whose answer is lost (a 500 instead): on an unwindowed job of quick tasks, the worker's only
    # UpdateItem is the claim that resumes the workflow
    total = 5
    tasks = [{"type": "echo", "payload": {"n": i}, "runtime": "eks"} for i in range(total)]
    job_id = api.submit({"name": "lost answer", "tasks": tasks})["job_id"]
    wait_for(lambda: "waiting" in job_item(aws, endpoints, job_id), 60, 0.25, "the workflow to wait")
    with FaultProxy(endpoints["aws_endpoint_url"], fraction=0.0, lose_first={"UpdateItem": 1},
                    lifetime_seconds=180, dynamodb_upstream=dynamodb_upstream(endpoints)) as proxy:
        workers.start("unlucky", through(proxy))

        # When its last task is committed, and the SDK retries the claim after it already took effect
        job = finish(api, job_id, 60, workers)
        workers.stop_all()

    # Then the retry still recognises the claim as its own, and the job's workflow resumed and finished
    assert proxy.lost == Counter({("dynamodb", "UpdateItem"): 1})
    assert_every_task_succeeded_once(api, aws, endpoints, job, total, lambda i: {"n": i})
