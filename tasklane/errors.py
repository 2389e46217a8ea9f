"""Domain exceptions. The API maps them to HTTP in one place (lambdas/api/errors.py)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class JobNotFound(DomainError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} was not found")
        self.job_id = job_id


class TaskNotFound(DomainError):
    def __init__(self, job_id: str, task_id: str) -> None:
        super().__init__(f"task {task_id!r} was not found in job {job_id!r}")


class JobConflict(DomainError):
    """The job's state forbids the request (cancel a finished job, retry a running one)."""


class InvalidRequest(DomainError):
    """The request cannot be served as asked: the message says what to change."""


class InvalidJob(InvalidRequest):
    """The job as submitted cannot run: says which task and why."""


class TooLarge(InvalidRequest):
    """What was sent is larger than the platform accepts: says the size and the limit."""


class WorkflowNotStarted(DomainError):
    """A job's workflow could not be started (an AWS failure, not the request's): asking again may work."""


class TaskFailure(Exception):
    """Raised by task code for an error worth retrying (the default for any exception)."""


class TaskTimedOut(TaskFailure):
    """The attempt ran past the task's timeout_seconds."""


class NonRetryableTaskFailure(TaskFailure):
    """Raised by task code when another attempt cannot succeed."""


class RetryTaskAfter(TaskFailure):
    """Raised by task code to ask for the next attempt no sooner than `seconds` from now."""

    def __init__(self, seconds: float, message: str = "retry requested") -> None:
        super().__init__(message)
        self.seconds = seconds
