"""In-memory stand-ins for the worker's collaborators, and a harness that runs a Worker on a thread."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import Any, cast

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.consumer import BatchFailure
from tasklane.deliveries import Delivery, DeliveryHandler
from tasklane.errors import NonRetryableTaskFailure
from tasklane.models import TaskBundle, TaskMessage, tasks_in
from tasklane.ports import CommitResult, JobStore
from tasklane.registry import TaskContext, TaskRegistry
from workers.heartbeat import Heartbeat
from workers.metrics import Metrics
from workers.worker import ExitCode, Worker, WorkerOptions

JOB = "job-1"


def delivery(task_id: str, type: str = "ok", payload: dict[str, Any] | None = None, attempt: int = 1) -> Delivery:
    body = TaskMessage(job_id=JOB, task_id=task_id, type=type, payload=payload or {}).model_dump_json()
    return Delivery(message_id=str(uuid.uuid4()), body=body, receipt_handle=f"rh-{task_id}", attempt=attempt)


def bundle(name: str, *tasks: TaskMessage, attempt: int = 1) -> Delivery:
    """One message carrying several tasks, as the task queues send them."""
    body = TaskBundle(tasks=list(tasks)).model_dump_json()
    return Delivery(message_id=str(uuid.uuid4()), body=body, receipt_handle=f"rh-{name}", attempt=attempt)


def task(task_id: str, type: str = "ok", payload: dict[str, Any] | None = None) -> TaskMessage:
    return TaskMessage(job_id=JOB, task_id=task_id, type=type, payload=payload or {})


class FakeConsumer:
    """A queue whose calls are recorded in `journal`, in order, alongside the store's."""

    def __init__(self, journal: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self.queue: deque[Delivery] = deque()
        self.journal = journal if journal is not None else []
        self.receives: list[int] = []
        self.deletes: list[list[str]] = []
        self.visibility: list[tuple[list[str], int]] = []
        self.fail_visibility = False
        self.polling = threading.Event()
        self.hold_polls: threading.Event | None = None  # when set, a receive waits for it, like a long poll

    def put(self, *deliveries: Delivery) -> None:
        with self._lock:
            self.queue.extend(deliveries)

    def receive(self, max_messages: int, *, wait_seconds: int, visibility_seconds: int) -> list[Delivery]:
        self.polling.set()
        if self.hold_polls is not None:
            self.hold_polls.wait(5)
        with self._lock:
            self.receives.append(max_messages)
            batch = [self.queue.popleft() for _ in range(min(max_messages, len(self.queue)))]
        if not batch:
            time.sleep(0.005)  # stands in for the long poll, so an idle loop does not spin
        return batch

    def delete(self, receipt_handles: Sequence[str]) -> list[BatchFailure]:
        with self._lock:
            self.deletes.append(list(receipt_handles))
            self.journal.append(f"delete {sorted(receipt_handles)}")
        return []

    def change_visibility(self, receipt_handles: Sequence[str], timeout_seconds: int) -> list[BatchFailure]:
        if self.fail_visibility:
            raise ConnectionError("queue unreachable")
        with self._lock:
            self.visibility.append((list(receipt_handles), timeout_seconds))
        return []

    def deleted(self) -> list[str]:
        with self._lock:
            return [h for batch in self.deletes for h in batch]

    def handed_back(self) -> list[str]:
        with self._lock:
            return [h for handles, timeout in self.visibility if timeout == 0 for h in handles]


class FakeStore:
    """The conditional writes of DynamoJobStore that the worker relies on, kept in a dict."""

    def __init__(self, journal: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self.tasks: dict[str, dict[str, Any]] = {}
        self.progress: list[tuple[str, str, int, float, str | None]] = []
        self.commits: list[list[TaskOutcome]] = []
        self.claims: list[tuple[str, int]] = []
        self.stopped: set[str] = set()
        self.journal = journal if journal is not None else []
        self.fail_commits = False

    def add(self, task_id: str, status: str = "PENDING", attempts: int = 0) -> None:
        self.tasks[task_id] = {"status": status, "attempts": attempts}

    def status(self, task_id: str) -> str:
        with self._lock:
            return str(self.tasks[task_id]["status"])

    def cancel(self, task_id: str) -> None:
        with self._lock:
            self.tasks[task_id]["status"] = "CANCELLED"

    def stopped_jobs(self, job_ids: list[str]) -> set[str]:
        return self.stopped & set(job_ids)

    def mark_running(self, message: TaskMessage, attempt: int) -> bool:
        with self._lock:
            self.claims.append((message.task_id, attempt))
            task = self.tasks.get(message.task_id)
            if task is None or task["status"] not in ("PENDING", "RUNNING") or task["attempts"] >= attempt:
                return False
            task.update(status="RUNNING", attempts=attempt)
            return True

    def record_progress(self, job_id: str, task_id: str, attempt: int, progress: float, note: str | None) -> bool:
        with self._lock:
            self.progress.append((job_id, task_id, attempt, progress, note))
            task = self.tasks[task_id]
            return bool(task["status"] == "RUNNING" and task["attempts"] == attempt)

    def record_outcomes(self, job_id: str, outcomes: list[TaskOutcome]) -> CommitResult:
        if self.fail_commits:
            raise ConnectionError("table unreachable")
        result = CommitResult()
        with self._lock:
            self.commits.append(list(outcomes))
            self.journal.append(f"commit {sorted(o.task_id for o in outcomes)}")
            for outcome in outcomes:
                task = self.tasks[outcome.task_id]
                if outcome.from_running:
                    owned = task["status"] == "RUNNING" and task["attempts"] == outcome.attempt
                else:
                    owned = task["status"] == "PENDING" and task["attempts"] < outcome.attempt
                if not owned:
                    result.stale.append(outcome)
                    continue
                status = "PENDING" if outcome.kind is OutcomeKind.RETRY else outcome.kind.value
                task.update(status=status, attempts=outcome.attempt)
                result.applied.append(outcome)
        return result

    def claim_resume(self, job_id: str, *, require_done: bool = True) -> str | None:
        return None


class FakeRetries:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def retry_later(self, receipt_handle: str, delay_seconds: float) -> None:
        self.calls.append((receipt_handle, delay_seconds))


class NoResumer:
    def resume(self, token: str, output: dict[str, Any]) -> None:
        raise AssertionError("no job finishes in these tests")

    def interrupt(self, token: str, error: str, cause: str) -> None:
        raise AssertionError("no job is interrupted in these tests")


class InlineExecutor(Executor):
    """Runs each task as it is submitted, so tasks started together also finish together."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - as ThreadPoolExecutor does: the future carries it
            future.set_exception(exc)
        return future


class Harness:
    """A Worker wired to the fakes, run on a background thread so a stuck test fails instead of hanging."""

    def __init__(self, *, inline: bool = False, heartbeat_seconds: float = 60.0, **options: Any) -> None:
        self.journal: list[str] = []
        self.consumer = FakeConsumer(self.journal)
        self.store = FakeStore(self.journal)
        self.retries = FakeRetries()
        self.sent_alone: list[tuple[TaskMessage, float]] = []
        self.metrics = Metrics()
        self.gates: dict[str, threading.Event] = {}
        self.started: dict[str, threading.Event] = {}
        self.contexts: dict[str, TaskContext] = {}
        fast = {"poll_wait_seconds": 0, "tick_seconds": 0.01, "progress_interval_seconds": 0}
        self.options = WorkerOptions(**{**fast, **options})
        self.heartbeat = Heartbeat(
            self.consumer, visibility_seconds=self.options.visibility_seconds, interval_seconds=heartbeat_seconds
        )
        runner = DeliveryHandler(
            store=cast(JobStore, self.store),  # only the calls a worker makes are faked
            resumer=NoResumer(),
            retries=self.heartbeat.guard(self.retries),
            registry=self._registry(),
            send_later=lambda message, delay: self.sent_alone.append((message, delay)),
        )
        self.worker = Worker(
            consumer=self.consumer,
            runner=runner,
            progress=self.store,
            heartbeat=self.heartbeat,
            metrics=self.metrics,
            options=self.options,
            pool=InlineExecutor() if inline else None,
        )
        self.code: ExitCode | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def send(self, *deliveries: Delivery) -> None:
        for item in deliveries:
            for message in tasks_in(item.body):
                self.store.tasks.setdefault(message.task_id, {"status": "PENDING", "attempts": 0})
        self.consumer.put(*deliveries)

    def gate(self, name: str) -> threading.Event:
        return self.gates.setdefault(name, threading.Event())

    def has_started(self, name: str) -> threading.Event:
        return self.started.setdefault(name, threading.Event())

    def start(self) -> Harness:
        self._thread.start()
        return self

    def _run(self) -> None:
        self.code = self.worker.run()

    def join(self, timeout: float = 5.0) -> ExitCode | None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the worker did not stop"
        return self.code

    def stop(self) -> ExitCode | None:
        self.worker.request_stop()
        return self.join()

    def close(self) -> None:
        """Let every blocked task end, so no thread outlives its test."""
        for gate in list(self.gates.values()):
            gate.set()
        self.worker.request_stop()
        if self._thread.ident is not None:
            self._thread.join(5)

    def _registry(self) -> TaskRegistry:
        registry = TaskRegistry()

        @registry.task("ok")
        def ok(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
            return {"done": ctx.task_id}

        @registry.task("fail")
        def fail(payload: dict[str, Any], ctx: TaskContext) -> None:
            raise NonRetryableTaskFailure("cannot succeed")

        @registry.task("flaky")
        def flaky(payload: dict[str, Any], ctx: TaskContext) -> None:
            raise RuntimeError("try again")

        @registry.task("block")
        def block(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
            self.has_started(payload["gate"]).set()
            self.gate(payload["gate"]).wait(10)
            return {}

        @registry.task("report")
        def report(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
            # Reports until told to stop, the way a long task loops over its work.
            self.contexts[ctx.task_id] = ctx
            self.has_started(ctx.task_id).set()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                ctx.report_progress(0.5, "half way")
                time.sleep(0.01)
            return {}

        return registry


def eventually(condition: Callable[[], object], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)
