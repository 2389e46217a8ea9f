"""Domain models: what a job and a task are, independent of how they are stored or transported."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator


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


class TaskTimeouts(BaseModel):
    """Every task is bounded: a timeout given is capped by its runtime's maximum, a missing one gets its default.

    Set per environment (cdk.json's task_timeout_default_seconds and task_timeout_max_seconds).
    """

    model_config = ConfigDict(frozen=True)

    default_seconds: dict[Runtime, int] = Field(default_factory=lambda: {Runtime.LAMBDA: 60, Runtime.EKS: 900})
    max_seconds: dict[Runtime, int] = Field(default_factory=lambda: {Runtime.LAMBDA: 100, Runtime.EKS: 3600})

    @model_validator(mode="after")
    def defaults_within_maxima(self) -> TaskTimeouts:
        for runtime in Runtime:
            if runtime not in self.default_seconds or runtime not in self.max_seconds:
                raise ValueError(f"task timeouts need a default and a maximum for runtime {runtime.value}")
            if not 1 <= self.default_seconds[runtime] <= self.max_seconds[runtime]:
                raise ValueError(f"the default task timeout of runtime {runtime.value} must be 1 to its maximum")
        return self

    def effective(self, runtime: Runtime, requested: int | None) -> int:
        """The timeout a task runs under; one over the maximum is the caller's to refuse (see `over_max`)."""
        return requested if requested is not None else self.default_seconds[runtime]

    def over_max(self, runtime: Runtime, requested: int | None) -> bool:
        return requested is not None and requested > self.max_seconds[runtime]


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
    max_concurrency: int | None = None
    timeout_seconds: int | None = None


class StopReason(StrEnum):
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


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
    max_concurrency: int | None = None
    timeout_seconds: int | None = None
    # Each retry or redrive of a finished job is a new run, with its own workflow execution.
    run: int = 0
    stop_reason: StopReason | None = None
    # Tasks sent (or, for a windowed job, claimed for sending) so far.
    sent: int = 0
    # Why the platform ended the job, when no task outcome explains it (its workflow could not go on).
    error: str | None = None

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
        """The final status the job earns once no task remains: its stop reason, or else its counts."""
        if self.stop_reason is StopReason.TIMED_OUT:
            return JobStatus.TIMED_OUT
        # A cancel that came after every task had ended changes nothing.
        if self.stop_reason is StopReason.CANCELLED and self.cancelled:
            return JobStatus.CANCELLED
        allowed_failures = self.total * self.tolerated_failure_percentage / 100.0
        return JobStatus.SUCCEEDED if self.failed <= allowed_failures else JobStatus.FAILED


def task_id_for(index: int) -> str:
    """Task ids sort in submission order and are unique within their job."""
    return f"t{index:08d}"


def execution_name(job_id: str, run: int) -> str:
    return job_id if run == 0 else f"{job_id}-run{run}"


class TaskMessage(BaseModel):
    """The body of one queue message: everything a runner needs to run one task."""

    job_id: str
    task_id: str
    tenant: str = ""
    type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    # A payload too large for a queue message travels as an S3 key; runners fetch it before the task runs.
    payload_ref: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_seconds: int | None = None
    # Attempts made in earlier runs: this delivery's attempt is attempt_offset + SQS's receive count.
    attempt_offset: int = 0
    # Set for jobs that bound their tasks in flight: each finished task lets the next one be sent.
    windowed: bool = False
    # Receives of earlier messages of this run: a task taken out of a bundle and sent again on its own
    # (for a retry, or because its runner ran out of time) keeps counting its attempts.
    earlier_receives: int = 0
    # Epoch seconds before which the task must not run: a retry delay longer than SQS's 15-minute
    # message delay is waited out in hops.
    not_before: float | None = None

    def attempt(self, receive_count: int) -> int:
        return self.attempt_offset + self.earlier_receives + receive_count

    def attempts_left_after(self, attempt: int) -> bool:
        return attempt - self.attempt_offset < self.max_attempts


class TaskBundle(BaseModel):
    """The body of one queue message carrying several short tasks: one send, receive and delete for all.

    A bundle is never hidden or retried as a whole for one of its tasks: a task due for another attempt
    leaves it as a message of its own, so its siblings' work is neither repeated nor delayed.
    """

    tasks: list[TaskMessage] = Field(min_length=1)


_QUEUE_BODY: TypeAdapter[TaskBundle | TaskMessage] = TypeAdapter(TaskBundle | TaskMessage)


def read_queue_body(body: str) -> TaskBundle | TaskMessage:
    """One queue message's body; raises pydantic's ValidationError for anything but a task or a bundle."""
    return _QUEUE_BODY.validate_json(body)


def read_queue_body_or_why_not(body: str) -> TaskBundle | TaskMessage | ValidationError:
    """One queue message's body, or the error that says why it is neither a task nor a bundle."""
    try:
        return read_queue_body(body)
    except ValidationError as error:
        return error


def tasks_of(body: TaskBundle | TaskMessage) -> list[TaskMessage]:
    """The tasks one queue message's body carries."""
    return body.tasks if isinstance(body, TaskBundle) else [body]


def tasks_in(body: str) -> list[TaskMessage]:
    """The tasks one queue message carries."""
    return tasks_of(read_queue_body(body))


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
    payload_ref: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_seconds: int | None = None
    run: int = 0
    result: Any = None
    error: str | None = None
    redriven_by: str | None = None
    redriven_at: str | None = None
    progress: float | None = None
    progress_message: str | None = None
    history: list[AttemptRecord] = Field(default_factory=list)
    created_at: str
    updated_at: str
