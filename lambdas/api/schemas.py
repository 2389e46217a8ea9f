"""The HTTP API's request and response bodies; the OpenAPI document is generated from these."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator
from pydantic_core import to_json

from tasklane.models import Job, JobStatus, Runtime, TaskRecord, TaskStatus, TaskTimeouts

CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key"]
MAX_TASKS_PER_JOB = 100_000
# A job uploaded through POST /jobs/uploads is read from S3, not from the request: it may be larger.
MAX_TASKS_PER_UPLOADED_JOB = 1_000_000
# Metadata is kept in the job's DynamoDB item (at most 400 KB); larger would fail the write with a 5xx.
MAX_METADATA_BYTES = 64 * 1024
# A task's payload, as JSON. Over 64 KiB it is stored in S3 and travels by reference; it is loaded whole into
# the task's runner, so it is bounded too.
MAX_TASK_PAYLOAD_BYTES = 1024 * 1024


def _payload_fits(value: dict[str, Any] | None) -> dict[str, Any] | None:
    size = len(to_json(value)) if value is not None else 0
    if size > MAX_TASK_PAYLOAD_BYTES:
        raise ValueError(f"the payload is {size} bytes as JSON; at most {MAX_TASK_PAYLOAD_BYTES} are allowed")
    return value


TaskPayload = Annotated[dict[str, Any], AfterValidator(_payload_fits)]


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=64, description="A registered task type, e.g. echo, sleep, fail, hash")
    payload: TaskPayload = Field(default_factory=dict)
    runtime: Runtime | None = Field(default=None, description="lambda for short tasks, eks for long ones")
    max_attempts: int | None = Field(default=None, ge=1, le=20)
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=7 * 24 * 3600,
        description="seconds an attempt may run, up to its runtime's maximum; its runtime's default if left out",
    )


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    tasks: list[TaskIn] = Field(min_length=1, max_length=MAX_TASKS_PER_JOB)
    metadata: dict[str, Any] = Field(default_factory=dict)
    tolerated_failure_percentage: float = Field(default=0.0, ge=0, le=100)
    max_concurrency: int | None = Field(default=None, ge=1, le=100_000, description="tasks in flight at most")
    timeout_seconds: int | None = Field(default=None, ge=1, le=30 * 24 * 3600, description="the job's deadline")

    @field_validator("metadata")
    @classmethod
    def metadata_fits(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(value).encode())
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is {size} bytes as JSON; at most {MAX_METADATA_BYTES} are allowed")
        return value


class UploadedJobIn(JobIn):
    tasks: list[TaskIn] = Field(min_length=1, max_length=MAX_TASKS_PER_UPLOADED_JOB)


class ManifestRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="the id POST /jobs/uploads returned")


class ManifestJobIn(BaseModel):
    """A job whose spec was uploaded to the form of POST /jobs/uploads."""

    model_config = ConfigDict(extra="forbid")

    manifest: ManifestRef


def _submission_kind(value: Any) -> str:
    return "uploaded" if isinstance(value, dict) and "manifest" in value else "inline"


JobSubmission = Annotated[
    Annotated[JobIn, Tag("inline")] | Annotated[ManifestJobIn, Tag("uploaded")], Discriminator(_submission_kind)
]
SUBMISSION_TAGS = ("inline", "uploaded")


class UploadOut(BaseModel):
    """A presigned POST (SigV4): send `fields`, then the spec as the form's `file` part, to `url`."""

    upload_id: str
    url: str
    fields: dict[str, str] = Field(description="form fields to send, in this order, before the file")
    expires_in: int
    method: str = "POST"
    content_type: str = Field(default="application/json", description="the only content type S3 accepts here")
    max_bytes: int = Field(description="the largest spec S3 accepts here")


class JobPageOut(BaseModel):
    items: list[JobOut]
    next_token: str | None


class DeadLetterGroupOut(BaseModel):
    fingerprint: str
    task_type: str
    error_class: str
    message: str
    count: int
    job_ids: list[str]
    sample_task_ids: list[str]
    sample_error: str


class DeadLettersOut(BaseModel):
    groups: list[DeadLetterGroupOut]
    total: int
    truncated: bool


class RedriveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str | None = Field(default=None, max_length=64)
    fingerprint: str | None = Field(default=None, max_length=64)
    task_ids: list[str] | None = Field(default=None, max_length=10_000, description="task ids of job_id")
    payload: TaskPayload | None = Field(default=None, description="replaces each redriven task's payload")


class RedriveSkipOut(BaseModel):
    job_id: str
    task_id: str
    reason: str


class RedriveOut(BaseModel):
    redriven: int
    runs: dict[str, int]
    skipped: list[RedriveSkipOut]


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
    run: int = Field(description="0 for the first run; each retry or redrive of the finished job adds one")
    stopping: str | None = Field(default=None, description="cancelled or timed_out while the job winds down")
    max_concurrency: int | None = None
    timeout_seconds: int | None = None
    error: str | None = Field(default=None, description="why the platform ended the job, when no task failure says")

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            job_id=job.job_id, name=job.name, status=job.status, created_at=job.created_at,
            updated_at=job.updated_at, counts=CountsOut(**job.counts.model_dump()), metadata=job.metadata,
            run=job.run, stopping=job.stop_reason.value if job.stop_reason and not job.status.is_final else None,
            max_concurrency=job.max_concurrency, timeout_seconds=job.timeout_seconds, error=job.error,
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
    timeout_seconds: int = Field(description="the timeout each attempt runs under: as asked, or its runtime's default")

    @classmethod
    def of(cls, task: TaskRecord, timeouts: TaskTimeouts) -> TaskOut:
        return cls(
            task_id=task.task_id, index=task.index, type=task.type, runtime=task.runtime, status=task.status,
            attempts=task.attempts, result=task.result, error=task.error, progress=task.progress,
            progress_message=task.progress_message,
            timeout_seconds=timeouts.effective(task.runtime, task.timeout_seconds),
        )


class TaskDetailOut(TaskOut):
    payload: dict[str, Any]
    max_attempts: int
    run: int
    history: list[AttemptOut]
    redriven_by: str | None = None
    redriven_at: str | None = None
    created_at: str
    updated_at: str

    @classmethod
    def of(
        cls, task: TaskRecord, timeouts: TaskTimeouts, payload: dict[str, Any] | None = None
    ) -> TaskDetailOut:
        return cls(
            **TaskOut.of(task, timeouts).model_dump(), payload=task.payload if payload is None else payload,
            max_attempts=task.max_attempts, run=task.run,
            history=[AttemptOut(**h.model_dump()) for h in task.history], redriven_by=task.redriven_by,
            redriven_at=task.redriven_at, created_at=task.created_at, updated_at=task.updated_at,
        )


class TaskPageOut(BaseModel):
    items: list[TaskOut]
    next_token: str | None


class HealthOut(BaseModel):
    status: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail
