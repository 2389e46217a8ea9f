"""The small interfaces through which domain logic reaches AWS; adapters live in tasklane/aws/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from tasklane.attempts import TaskOutcome
from tasklane.dead_letters import DeadLetter
from tasklane.models import Job, JobSpec, JobStatus, StopReason, TaskMessage, TaskRecord, TaskStatus


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


@dataclass
class JobPage:
    items: list[Job]
    next_token: str | None


class JobRecords(Protocol):
    """Jobs and their tasks as written: create, read, list, and the dispatch that writes them (the core of
    tasklane/aws/dynamodb_store.py)."""

    def create_job(self, job: Job) -> None: ...

    def get_job(self, job_id: str) -> Job | None: ...

    def set_job_status(
        self, job_id: str, status: JobStatus, *, only_from: tuple[JobStatus, ...], error: str | None = None
    ) -> bool:
        """Move the job to `status` from one of `only_from`, recording `error` as why when given."""
        ...

    def list_jobs(self, tenant: str, *, status: JobStatus | None, limit: int, next_token: str | None) -> JobPage: ...

    def dispatch_cursor(self, job_id: str) -> tuple[int, int]:
        """How many tasks were written and how many sent so far."""
        ...

    def write_tasks(self, job_id: str, records: list[TaskRecord], written_upto: int) -> None: ...

    def mark_sent(self, job_id: str, sent_upto: int) -> None: ...

    def list_tasks(
        self, job_id: str, *, status: TaskStatus | None, limit: int, next_token: str | None
    ) -> TaskPage: ...

    def get_task(self, job_id: str, task_id: str) -> TaskRecord | None: ...


class TaskOutcomes(Protocol):
    """What running tasks record: the RUNNING claim, progress, and final outcomes exactly once
    (tasklane/aws/dynamo_outcomes.py)."""

    def mark_running(self, message: TaskMessage, attempt: int) -> bool: ...

    def record_progress(self, job_id: str, task_id: str, attempt: int, progress: float, note: str | None) -> bool: ...

    def record_outcomes(self, job_id: str, outcomes: list[TaskOutcome]) -> CommitResult: ...


class JobControls(Protocol):
    """Steering a job: stopping it, resuming its workflow, reruns, windows and dead letters
    (tasklane/aws/dynamo_reruns.py)."""

    def request_stop(self, job_id: str, reason: StopReason) -> Job | None:
        """Record why a live job must stop; None when it is already final or already stopping."""
        ...

    def stopped_jobs(self, job_ids: list[str]) -> set[str]:
        """Those of the jobs that were asked to stop (consistent read)."""
        ...

    def cancel_unwritten(self, job_id: str) -> int:
        """Count as cancelled the tasks a stopped dispatch never wrote; returns how many."""
        ...

    def live_tasks(self, job_id: str) -> Iterator[TaskRecord]:
        """Every task still PENDING or RUNNING."""
        ...

    def save_resume_token(self, job_id: str, token: str) -> Job: ...

    def claim_resume(self, job_id: str, *, require_done: bool = True) -> str | None:
        """The waiting execution's token for the one caller that wins the claim; None for every other."""
        ...

    def begin_run(self, job_id: str, run: int) -> Job | None:
        """Open run `run` of a finished job (retry, redrive); None when the job is not finished or moved on."""
        ...

    def reopen_tasks(
        self,
        job_id: str,
        run: int,
        task_ids: list[str] | None,
        payload: dict[str, Any] | None,
        by: str,
        payload_ref: str | None = None,
    ) -> list[TaskRecord]:
        """Put FAILED tasks (all, or those named) back to PENDING for `run`; returns those reopened.

        A new payload replaces theirs: inline, or stored in S3 at `payload_ref`."""
        ...

    def claim_window(self, job_id: str, count: int) -> range:
        """Indexes of the next `count` tasks a windowed job may send; empty once all were claimed."""
        ...

    def tasks_between(self, job_id: str, start: int, stop: int) -> list[TaskRecord]: ...

    def put_dead_letter(self, letter: DeadLetter) -> None: ...

    def dead_letters(self, tenant: str, *, limit: int) -> list[DeadLetter]: ...


class JobStore(JobRecords, TaskOutcomes, JobControls, Protocol):
    """The whole store, as the domain uses it; its three parts are the lines its DynamoDB adapter is built
    along, and a component may ask for just the part it uses."""


class TaskQueue(Protocol):
    def send(self, messages: list[TaskMessage]) -> None: ...


@dataclass(frozen=True)
class UploadForm:
    """A presigned POST: the form fields (policy and SigV4 signature among them) go before the file."""

    url: str
    fields: dict[str, str]


class ManifestStore(Protocol):
    def put(self, job_id: str, spec: JobSpec) -> None: ...

    def put_json(self, job_id: str, manifest: bytes) -> None:
        """Store a manifest already serialized as JobSpec's JSON (tasklane.jobs.build_manifest)."""
        ...

    def get(self, job_id: str) -> JobSpec: ...

    def upload_form(self, tenant: str, upload_id: str, expires_in: int, max_bytes: int) -> UploadForm:
        """Where and how a client may POST one JSON document of at most `max_bytes` (S3 enforces both)."""
        ...

    def upload_size(self, tenant: str, upload_id: str) -> int | None:
        """The size of what was uploaded, without reading it; None when nothing was."""
        ...

    def read_upload(self, tenant: str, upload_id: str) -> bytes | None: ...

    def put_payload(self, job_id: str, task_id: str, payload: dict[str, Any]) -> str: ...

    def get_payload(self, ref: str) -> dict[str, Any]: ...


class WorkflowStarter(Protocol):
    def start(self, name: str, execution_input: dict[str, Any]) -> None: ...


class WorkflowResumer(Protocol):
    def resume(self, token: str, output: dict[str, Any]) -> None: ...

    def interrupt(self, token: str, error: str, cause: str) -> None: ...


class RetryScheduler(Protocol):
    def retry_later(self, receipt_handle: str, delay_seconds: float) -> None: ...
