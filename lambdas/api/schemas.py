"""The HTTP API's request and response bodies; the OpenAPI document is generated from these."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tasklane.models import Job, JobStatus, Runtime, TaskRecord, TaskStatus

MAX_TASKS_PER_JOB = 100_000


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=64, description="A registered task type, e.g. echo, sleep, fail, hash")
    payload: dict[str, Any] = Field(default_factory=dict)
    runtime: Runtime | None = Field(default=None, description="lambda for short tasks, eks for long ones")
    max_attempts: int | None = Field(default=None, ge=1, le=20)
    timeout_seconds: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    tasks: list[TaskIn] = Field(min_length=1, max_length=MAX_TASKS_PER_JOB)
    metadata: dict[str, Any] = Field(default_factory=dict)
    tolerated_failure_percentage: float = Field(default=0.0, ge=0, le=100)


class JobCreated(BaseModel):
    job_id: str
    status: JobStatus


class CountsOut(BaseModel):
    total: int
    pending: int
    running: int
    succeeded: int
    failed: int
    cancelled: int


class JobOut(BaseModel):
    job_id: str
    name: str
    status: JobStatus
    created_at: str
    updated_at: str
    counts: CountsOut
    metadata: dict[str, Any]

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            job_id=job.job_id, name=job.name, status=job.status, created_at=job.created_at,
            updated_at=job.updated_at, counts=CountsOut(**job.counts.model_dump()), metadata=job.metadata,
        )


class AttemptOut(BaseModel):
    attempt: int
    status: TaskStatus
    error: str | None = None
    finished_at: str


class TaskOut(BaseModel):
    task_id: str
    index: int
    type: str
    runtime: Runtime
    status: TaskStatus
    attempts: int
    result: Any = None
    error: str | None = None
    progress: float | None = None
    progress_message: str | None = None

    @classmethod
    def of(cls, task: TaskRecord) -> TaskOut:
        return cls(
            task_id=task.task_id, index=task.index, type=task.type, runtime=task.runtime, status=task.status,
            attempts=task.attempts, result=task.result, error=task.error, progress=task.progress,
            progress_message=task.progress_message,
        )


class TaskDetailOut(TaskOut):
    payload: dict[str, Any]
    history: list[AttemptOut]
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, task: TaskRecord) -> TaskDetailOut:
        return cls(
            **TaskOut.of(task).model_dump(), payload=task.payload,
            history=[AttemptOut(**h.model_dump()) for h in task.history],
            created_at=task.created_at, updated_at=task.updated_at,
        )


class TaskPageOut(BaseModel):
    items: list[TaskOut]
    next_token: str | None


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail
