"""The worker's metrics, exposed on /metrics in the Prometheus text format (version 0.0.4).

Why Prometheus text: the worker runs as pods in the cluster, where they are scraped in-cluster (and by
KEDA/HPA for scaling); counting is a few integer additions under a lock, with no CloudWatch API call,
and so none of its latency, throttling or cost, on the hot path of running a task.
"""

from __future__ import annotations

import threading
from enum import StrEnum

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Counter(StrEnum):
    STARTED = "tasks_started_total"
    SUCCEEDED = "tasks_succeeded_total"
    FAILED = "tasks_failed_total"
    RETRIED = "tasks_retried_total"
    DISCARDED = "tasks_discarded_total"
    INVALID = "messages_invalid_total"
    ERRORS = "tasks_errors_total"


_HELP = {
    Counter.STARTED: "Task attempts handed to a worker thread.",
    Counter.SUCCEEDED: "Task attempts whose success was committed.",
    Counter.FAILED: "Task attempts whose final failure was committed.",
    Counter.RETRIED: "Task attempts that failed and were scheduled for another attempt.",
    Counter.DISCARDED: "Deliveries acknowledged without a record: duplicates, stale outcomes, abandoned attempts.",
    Counter.INVALID: "Messages whose body is not a task, left on the queue for its redrive policy.",
    Counter.ERRORS: "Attempts the worker could not run or commit; their messages return after the visibility timeout.",
}


class Metrics:
    """Thread-safe: task threads, the loop and the health server's threads all touch it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(Counter, 0)
        self._in_flight = 0
        self._poll_count = 0
        self._poll_sum = 0.0

    def inc(self, counter: Counter, by: int = 1) -> None:
        with self._lock:
            self._counts[counter] += by

    def set_in_flight(self, running: int) -> None:
        with self._lock:
            self._in_flight = running

    def observe_poll(self, seconds: float) -> None:
        with self._lock:
            self._poll_count += 1
            self._poll_sum += seconds

    def count(self, counter: Counter) -> int:
        with self._lock:
            return self._counts[counter]

    def render(self) -> str:
        with self._lock:
            counts, in_flight = dict(self._counts), self._in_flight
            poll_count, poll_sum = self._poll_count, self._poll_sum
        lines: list[str] = []
        for counter, value in counts.items():
            lines += [f"# HELP {counter} {_HELP[counter]}", f"# TYPE {counter} counter", f"{counter} {value}"]
        lines += [
            "# HELP tasks_in_flight Task attempts running now.",
            "# TYPE tasks_in_flight gauge",
            f"tasks_in_flight {in_flight}",
            "# HELP poll_latency_seconds Duration of receive calls, long-poll wait included.",
            "# TYPE poll_latency_seconds summary",
            f"poll_latency_seconds_sum {poll_sum:.6f}",
            f"poll_latency_seconds_count {poll_count}",
        ]
        return "\n".join(lines) + "\n"
