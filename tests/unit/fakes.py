"""Small in-memory stand-ins for the domain's ports, for tests of the logic above them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tasklane.execution import TaskOutcome
from tasklane.models import Job, JobSpec, JobStatus, TaskMessage, TaskRecord, TaskStatus
from tasklane.ports import CommitResult, TaskPage


@dataclass
class CallLog:
    """One ordered log shared by several fakes, to check the order of calls across ports."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class InMemoryManifests:
    def __init__(self, log: CallLog | None = None) -> None:
        self.specs: dict[str, JobSpec] = {}
        self.log = log or CallLog()

    def put(self, job_id: str, spec: JobSpec) -> None:
        self.log.calls.append(("manifests.put", job_id))
        self.specs[job_id] = spec

    def get(self, job_id: str) -> JobSpec:
        return self.specs[job_id]


class RecordingWorkflow:
    def __init__(self, log: CallLog | None = None) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []
        self.resumed: list[tuple[str, dict[str, Any]]] = []
        self.log = log or CallLog()

    def start(self, job_id: str, execution_input: dict[str, Any]) -> None:
        self.log.calls.append(("workflow.start", job_id))
        self.started.append((job_id, execution_input))

    def resume(self, token: str, output: dict[str, Any]) -> None:
        self.log.calls.append(("workflow.resume", token))
        self.resumed.append((token, output))


class RecordingQueue:
    """A task queue that keeps what it was sent; `fail_on_call` makes that call (1-based) raise once."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.sent: list[TaskMessage] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    def send(self, messages: list[TaskMessage]) -> None:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise ConnectionError("simulated crash while sending")
        self.sent += messages

    def task_ids(self) -> list[str]:
        return [m.task_id for m in self.sent]


class RecordingRetries:
    def __init__(self) -> None:
        self.scheduled: list[tuple[str, float]] = []

    def retry_later(self, receipt_handle: str, delay_seconds: float) -> None:
        self.scheduled.append((receipt_handle, delay_seconds))


class InMemoryJobStore:
    """Enough of JobStore for jobs and dispatch: jobs, the dispatch cursor and task writes (all recorded)."""

    def __init__(self, log: CallLog | None = None) -> None:
        self.jobs: dict[str, Job] = {}
        self.cursors: dict[str, tuple[int, int]] = {}
        self.tasks: dict[tuple[str, str], TaskRecord] = {}
        self.writes: list[str] = []
        self.log = log or CallLog()

    def create_job(self, job: Job) -> None:
        self.log.calls.append(("store.create_job", job.job_id))
        assert job.job_id not in self.jobs
        self.jobs[job.job_id] = job
        self.cursors[job.job_id] = (0, 0)

    def get_job(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def set_job_status(self, job_id: str, status: JobStatus, *, only_from: tuple[JobStatus, ...]) -> bool:
        job = self.jobs[job_id]
        if job.status not in only_from:
            return False
        self.jobs[job_id] = job.model_copy(update={"status": status})
        return True

    def dispatch_cursor(self, job_id: str) -> tuple[int, int]:
        return self.cursors[job_id]

    def write_tasks(self, job_id: str, records: list[TaskRecord], written_upto: int) -> None:
        for record in records:
            self.writes.append(record.task_id)
            self.tasks[(job_id, record.task_id)] = record
        self.cursors[job_id] = (written_upto, self.cursors[job_id][1])

    def mark_sent(self, job_id: str, sent_upto: int) -> None:
        self.cursors[job_id] = (self.cursors[job_id][0], sent_upto)

    def list_tasks(self, job_id: str, *, status: TaskStatus | None, limit: int, next_token: str | None) -> TaskPage:
        items = sorted((t for (j, _), t in self.tasks.items() if j == job_id), key=lambda t: t.task_id)
        items = [t for t in items if status is None or t.status is status]
        return TaskPage(items=items[:limit], next_token=None)

    def get_task(self, job_id: str, task_id: str) -> TaskRecord | None:
        return self.tasks.get((job_id, task_id))


class ScriptedStore:
    """A JobStore for completion logic: record_outcomes answers from a script; claim_resume hands out
    the saved token exactly once, as the real conditional update does."""

    def __init__(self, results: dict[str, CommitResult], token: str | None = "token-1") -> None:
        self.results = results
        self.token = token
        self.resumed = False
        self.committed: list[tuple[str, list[TaskOutcome]]] = []
        self.claims = 0

    def record_outcomes(self, job_id: str, outcomes: list[TaskOutcome]) -> CommitResult:
        self.committed.append((job_id, list(outcomes)))
        return self.results[job_id]

    def claim_resume(self, job_id: str) -> str | None:
        self.claims += 1
        if self.token is None or self.resumed:
            return None
        self.resumed = True
        return self.token


class Spy:
    """Wraps a boto3 client: every call goes through to it and is recorded as (operation, kwargs)."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return attr(*args, **kwargs)

        return record

    def named(self, operation: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == operation]
