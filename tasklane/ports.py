"""The small interfaces through which domain logic reaches AWS; adapters live in tasklane/aws/."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from tasklane.execution import TaskOutcome
from tasklane.models import Job, JobSpec, JobStatus, TaskMessage, TaskRecord, TaskStatus


@dataclass
class CommitResult:
    applied: list[TaskOutcome] = field(default_factory=list)
    # Outcomes refused because the task had already moved on (a duplicate delivery or a late finisher).
    stale: list[TaskOutcome] = field(default_factory=list)
    # True for the one commit that took the job's last remaining task to a final state.
    finished_job: bool = False


@dataclass
class TaskPage:
    items: list[TaskRecord]
    next_token: str | None


class JobStore(Protocol):
    def create_job(self, job: Job) -> None: ...

    def get_job(self, job_id: str) -> Job | None: ...

    def set_job_status(self, job_id: str, status: JobStatus, *, only_from: tuple[JobStatus, ...]) -> bool: ...

    def dispatch_cursor(self, job_id: str) -> tuple[int, int]:
        """How many tasks were written and how many sent so far."""
        ...

    def write_tasks(self, job_id: str, records: list[TaskRecord], written_upto: int) -> None: ...

    def mark_sent(self, job_id: str, sent_upto: int) -> None: ...

    def list_tasks(
        self, job_id: str, *, status: TaskStatus | None, limit: int, next_token: str | None
    ) -> TaskPage: ...

    def get_task(self, job_id: str, task_id: str) -> TaskRecord | None: ...

    def mark_running(self, message: TaskMessage, attempt: int) -> bool: ...

    def record_progress(self, job_id: str, task_id: str, attempt: int, progress: float, note: str | None) -> bool: ...

    def record_outcomes(self, job_id: str, outcomes: list[TaskOutcome]) -> CommitResult: ...

    def save_resume_token(self, job_id: str, token: str) -> Job: ...

    def claim_resume(self, job_id: str) -> str | None: ...


class TaskQueue(Protocol):
    def send(self, messages: list[TaskMessage]) -> None: ...


class ManifestStore(Protocol):
    def put(self, job_id: str, spec: JobSpec) -> None: ...

    def get(self, job_id: str) -> JobSpec: ...


class WorkflowStarter(Protocol):
    def start(self, job_id: str, execution_input: dict[str, Any]) -> None: ...


class WorkflowResumer(Protocol):
    def resume(self, token: str, output: dict[str, Any]) -> None: ...


class RetryScheduler(Protocol):
    def retry_later(self, receipt_handle: str, delay_seconds: float) -> None: ...
