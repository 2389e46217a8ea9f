"""Run a registered task in-process, without the platform: for unit tests of task code and `jobctl run-local`.

The attempt runs through the same function as in both runtimes (tasklane.attempts.run_attempt), so the
timeout, the retry signals (`RetryTaskAfter`, `NonRetryableTaskFailure`, any other exception) and the result's
storability are judged exactly as they would be there. Retries are not waited for: the delay the platform
would wait is recorded instead.

    from tasklane.testing import run_task

    def test_thumbnail() -> None:
        run = run_task("thumbnail", {"width": 4, "height": 2})
        assert run.succeeded and run.result == {...}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tasklane.attempts import OutcomeKind, run_attempt
from tasklane.models import TaskMessage
from tasklane.registry import TaskContext, TaskRegistry
from tasklane.task_packages import task_registry


@dataclass(frozen=True)
class LocalAttempt:
    attempt: int
    kind: OutcomeKind
    error: str | None
    # What the platform would wait before the next attempt (0 for a final outcome).
    retry_delay_seconds: float


@dataclass
class LocalRun:
    """What running a task locally came to: its final outcome, each attempt, and the progress it reported."""

    task_type: str
    status: OutcomeKind = OutcomeKind.FAILED
    result: Any = None
    error: str | None = None
    attempts: list[LocalAttempt] = field(default_factory=list)
    progress: list[tuple[float, str | None]] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.status is OutcomeKind.SUCCEEDED


def run_task(
    task_type: str,
    payload: dict[str, Any] | None = None,
    *,
    max_attempts: int | None = None,
    timeout_seconds: int | None = None,
    retry: bool = True,
    job_id: str = "local-job",
    task_id: str = "local-task",
    tasks: TaskRegistry | None = None,
) -> LocalRun:
    """Run `task_type` with `payload` as the platform would: up to `max_attempts` attempts (the type's default),
    or only the first when `retry` is False. `tasks` defaults to the process's registry: the built-in types and
    the packages of TASK_PACKAGES (a test that imports its own package registers it there too). Never raises for
    the task's own errors; they are in the run."""
    tasks = tasks or task_registry()
    found = tasks.get(task_type)
    attempts = max_attempts or (found.max_attempts if found else 1)
    message = TaskMessage(
        job_id=job_id, task_id=task_id, tenant="local", type=task_type, payload=payload or {},
        max_attempts=attempts, timeout_seconds=timeout_seconds,
    )
    run = LocalRun(task_type=task_type)

    def report_progress(fraction: float, note: str | None = None) -> None:
        run.progress.append((fraction, note))

    for attempt in range(1, attempts + 1):
        context = TaskContext(job_id=job_id, task_id=task_id, attempt=attempt, report_progress=report_progress)
        outcome = run_attempt(message, attempt, tasks, context)
        run.attempts.append(LocalAttempt(attempt, outcome.kind, outcome.error, outcome.retry_delay_seconds))
        run.status, run.result, run.error = outcome.kind, outcome.result, outcome.error
        if outcome.kind is not OutcomeKind.RETRY or not retry:
            break
    return run
