"""Domain models: what a job and a task are, independent of how they are stored or transported."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class JobStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def is_final(self) -> bool:
        return self not in (JobStatus.PENDING, JobStatus.RUNNING)


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self not in (TaskStatus.PENDING, TaskStatus.RUNNING)


class Runtime(StrEnum):
    LAMBDA = "lambda"
    EKS = "eks"


DEFAULT_MAX_ATTEMPTS = 3


class TaskSpec(BaseModel):
    """One task as the user asked for it, with defaults already resolved."""

    model_config = ConfigDict(frozen=True)

    type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    runtime: Runtime
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_seconds: int | None = None


class JobSpec(BaseModel):
    """A validated job as submitted: its tasks are what the dispatcher later sends."""

    name: str
    tasks: list[TaskSpec]
    metadata: dict[str, Any] = Field(default_factory=dict)
    tolerated_failure_percentage: float = 0.0


class JobCounts(BaseModel):
    total: int
    pending: int
    running: int
    succeeded: int
    failed: int
    cancelled: int


class Job(BaseModel):
    job_id: str
    tenant: str
    name: str
    status: JobStatus
    created_at: str
    updated_at: str
    total: int
    remaining: int
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    tolerated_failure_percentage: float = 0.0
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def counts(self) -> JobCounts:
        return JobCounts(
            total=self.total,
            pending=self.remaining - self.running,
            running=self.running,
            succeeded=self.succeeded,
            failed=self.failed,
            cancelled=self.cancelled,
        )

    def outcome(self) -> JobStatus:
        """The final status the job earns from its counts once no task remains."""
        allowed_failures = self.total * self.tolerated_failure_percentage / 100.0
        return JobStatus.SUCCEEDED if self.failed <= allowed_failures else JobStatus.FAILED


def task_id_for(index: int) -> str:
    """Task ids sort in submission order and are unique within their job."""
    return f"t{index:08d}"


class TaskMessage(BaseModel):
    """The body of one queue message: everything a runner needs to run one task."""

    job_id: str
    task_id: str
    type: str
    payload: dict[str, Any]
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_seconds: int | None = None


class AttemptRecord(BaseModel):
    attempt: int
    status: TaskStatus
    error: str | None = None
    finished_at: str


class TaskRecord(BaseModel):
    job_id: str
    task_id: str
    index: int
    type: str
    runtime: Runtime
    status: TaskStatus
    attempts: int = 0
    payload: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    error: str | None = None
    progress: float | None = None
    progress_message: str | None = None
    history: list[AttemptRecord] = Field(default_factory=list)
    created_at: str
    updated_at: str
