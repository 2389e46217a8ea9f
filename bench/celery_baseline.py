"""The baseline: the same no-op work through Celery 5 with its SQS broker (kombu's SQS transport).

Same emulator, same machine, in the same run as ours: 2 worker processes (`celery worker --pool prefork
--concurrency 1`, twice), no result backend, a prefetch of 10 (SQS's largest receive). Timed from the first
enqueue (one `apply_async` per task, as an application would) until the queue holds no message, visible or
in flight. The workers import this module: `app` is configured from the environment they are started with.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from celery import Celery
from kombu import pools

from bench.common import Outcome, Skipped, aws_client, child_env, start_process, stop_processes, wait_until

BROKER_ENV = "TASKLANE_BENCH_CELERY_BROKER"
PREFIX_ENV = "TASKLANE_BENCH_CELERY_PREFIX"
QUEUE = "celery"

app = Celery("tasklane_bench")
app.conf.update(
    broker_url=os.environ.get(BROKER_ENV, "sqs://test:test@127.0.0.1:4566"),
    broker_transport_options={
        "region": "us-east-1",
        "is_secure": False,
        "queue_name_prefix": os.environ.get(PREFIX_ENV, "tasklane-bench-"),
        "visibility_timeout": 120,
        "wait_time_seconds": 1,
        "polling_interval": 0.1,
    },
    broker_connection_retry_on_startup=True,
    result_backend=None,
    task_ignore_result=True,
    task_default_queue=QUEUE,
    worker_prefetch_multiplier=10,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    worker_hijack_root_logger=False,
)


@app.task(name="noop")
def noop() -> None:
    return None


def _fresh_producers() -> None:
    pools.reset()
    app.close()
    app.amqp._producer_pool = None


def broker_url(endpoint_url: str) -> str:
    host_port = endpoint_url.split("://", 1)[1].rstrip("/")
    return f"sqs://test:test@{host_port}"


class CeleryRun:
    """Two Celery workers on a queue of the bench's own; `enqueue_and_drain` times one batch of tasks."""

    def __init__(self, endpoint_url: str, log_dir: Path, workers: int = 2) -> None:
        self.endpoint_url = endpoint_url
        self.prefix = f"tasklane-bench-{uuid.uuid4().hex[:8]}-"
        self.queue_name = self.prefix + QUEUE
        self.log_dir = log_dir
        self.workers = workers
        self.processes: list[Any] = []
        self.sqs = aws_client("sqs", endpoint_url)
        self.queue_url = ""

    def __enter__(self) -> CeleryRun:
        os.environ[BROKER_ENV] = broker_url(self.endpoint_url)
        os.environ[PREFIX_ENV] = self.prefix
        _fresh_producers()  # kombu's pools are keyed by broker URL and would keep the previous queue prefix
        app.conf.broker_url = os.environ[BROKER_ENV]
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, "queue_name_prefix": self.prefix}
        env = child_env({BROKER_ENV: os.environ[BROKER_ENV], PREFIX_ENV: self.prefix})
        command = [sys.executable, "-m", "celery", "-A", "bench.celery_baseline", "worker", "--pool", "prefork",
                   "--concurrency", "1", "--without-heartbeat", "--without-gossip", "--without-mingle",
                   "--loglevel", "WARNING"]
        self.processes = [
            start_process([*command, "-n", f"bench{i}@%h"], env, self.log_dir / f"celery-{i}.log")
            for i in range(self.workers)
        ]
        try:
            if not wait_until(self._queue_exists, timeout=60, interval=0.3):
                raise Skipped(f"the Celery workers did not create their queue; see {self.log_dir}")
            self.enqueue_and_drain(50, timeout=60)  # both workers consuming before the clock starts
        except BaseException:
            self.__exit__()  # `with` calls it only once __enter__ has returned
            raise
        return self

    def __exit__(self, *_: object) -> None:
        _fresh_producers()
        stop_processes(self.processes, grace_seconds=15)
        for url in self.sqs.list_queues(QueueNamePrefix=self.prefix).get("QueueUrls", []):
            self.sqs.delete_queue(QueueUrl=url)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def _queue_exists(self) -> bool:
        urls = self.sqs.list_queues(QueueNamePrefix=self.queue_name).get("QueueUrls", [])
        self.queue_url = urls[0] if urls else ""
        return bool(urls)

    def depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ])["Attributes"]
        return sum(int(v) for v in attributes.values())

    def enqueue_and_drain(self, tasks: int, timeout: float) -> dict[str, Any]:
        started = time.perf_counter()
        for _ in range(tasks):
            noop.apply_async()
        enqueued = time.perf_counter()
        drained = wait_until(lambda: self.depth() == 0, timeout=timeout, interval=0.05)
        finished = time.perf_counter()
        return {
            "tasks": tasks, "drained": drained, "seconds": finished - started, "enqueue_seconds": enqueued - started,
            "enqueue_per_second": tasks / (enqueued - started), "tasks_per_second": tasks / (finished - started),
        }


def run(endpoint_url: str, tasks: int, log_dir: Path, repeats: int = 1) -> Outcome:
    with CeleryRun(endpoint_url, log_dir) as celery:
        runs = [celery.enqueue_and_drain(tasks, timeout=max(120.0, tasks / 20)) for _ in range(repeats)]
    finished = [r for r in runs if r["drained"]]
    rates = sorted(r["tasks_per_second"] for r in finished)
    data = {
        "tasks": tasks, "runs": runs, "workers": 2, "pool": "prefork", "concurrency_per_worker": 1,
        "prefetch_multiplier": 10, "tasks_per_second": rates[len(rates) // 2] if rates else None,
        "versions": {"celery": _version("celery"), "kombu": _version("kombu")},
    }
    return Outcome("celery_baseline", data)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
