"""Progress reports from running tasks, and cooperative cancellation through them.

A Python thread cannot be killed from outside. So when `record_progress` says this attempt no longer
owns its task (the job was cancelled or timed out, or a newer attempt took the task over), the worker
marks the attempt abandoned: `context.cancelled` turns true, and the task's next call to
`report_progress` raises `TaskCancelled`, which unwinds the task's thread at that point. A task that
never reports progress runs to its end; its outcome is then refused on commit and simply dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tasklane.claims import TaskClaim
from tasklane.models import TaskMessage
from tasklane.registry import TaskContext

log = logging.getLogger(__name__)

# By default, reports closer together than this are dropped: the record shows where a task is, it is
# not a log, and a task reporting in a tight loop must not become a DynamoDB write loop.
MIN_REPORT_INTERVAL_SECONDS = 1.0


class TaskCancelled(BaseException):
    """Raised inside a task whose attempt was abandoned.

    A BaseException, like asyncio.CancelledError, so that a task's own `except Exception` does not
    swallow it and the attempt's error handling does not turn it into a retry.
    """


class ProgressStore(Protocol):
    def record_progress(self, job_id: str, task_id: str, attempt: int, progress: float, note: str | None) -> bool: ...


@dataclass
class WorkerTaskContext(TaskContext):
    """The TaskContext the worker hands to a task, with the cancellation flag it can check itself."""

    cancel_event: threading.Event = field(default_factory=threading.Event)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


class ProgressReporter:
    """`report_progress` for one attempt; called on the task's own thread."""

    def __init__(
        self,
        store: ProgressStore,
        message: TaskMessage,
        attempt: int,
        cancel_event: threading.Event,
        *,
        clock: Callable[[], float] = time.monotonic,
        min_interval_seconds: float = MIN_REPORT_INTERVAL_SECONDS,
        claim: TaskClaim | None = None,
    ) -> None:
        self._store = store
        self._claim = claim
        self._message = message
        self._attempt = attempt
        self._cancel = cancel_event
        self._clock = clock
        self._min_interval = min_interval_seconds
        self._last: float | None = None

    def __call__(self, progress: float, message: str | None = None) -> None:
        if self._cancel.is_set():
            raise TaskCancelled(self._describe())
        now = self._clock()
        if self._last is not None and now - self._last < self._min_interval:
            return
        self._last = now
        job_id, task_id = self._message.job_id, self._message.task_id
        try:
            # A task that reports progress is worth showing RUNNING: the first report claims it.
            owned = self._claim is None or self._claim.take()
            owned = owned and self._store.record_progress(job_id, task_id, self._attempt, progress, message)
        except Exception:
            # Progress is advisory: a failed write must not fail the task it describes.
            log.warning("could not record progress", exc_info=True, extra={"job_id": job_id, "task_id": task_id})
            return
        if not owned:
            self._cancel.set()
            log.info("attempt abandoned", extra={"job_id": job_id, "task_id": task_id, "attempt": self._attempt})
            raise TaskCancelled(self._describe())

    def _describe(self) -> str:
        return f"attempt {self._attempt} of task {self._message.task_id} no longer owns the task"


def task_context(
    store: ProgressStore,
    message: TaskMessage,
    attempt: int,
    clock: Callable[[], float] = time.monotonic,
    min_interval_seconds: float = MIN_REPORT_INTERVAL_SECONDS,
    claim: TaskClaim | None = None,
) -> WorkerTaskContext:
    cancel = threading.Event()
    reporter = ProgressReporter(
        store, message, attempt, cancel, clock=clock, min_interval_seconds=min_interval_seconds, claim=claim
    )
    return WorkerTaskContext(
        job_id=message.job_id,
        task_id=message.task_id,
        attempt=attempt,
        report_progress=reporter,
        cancel_event=cancel,
    )
