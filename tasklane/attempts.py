"""Running one attempt of one task: the part the Lambda runner and the long-task worker share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tasklane.backoff import Backoff
from tasklane.deadline import call_with_timeout
from tasklane.errors import NonRetryableTaskFailure, RetryTaskAfter
from tasklane.models import TaskMessage
from tasklane.registry import TaskContext, TaskRegistry

# A result is stored in the task's DynamoDB item, whose limit is 400 KB; leave room for the rest.
MAX_RESULT_BYTES = 256 * 1024
DEFAULT_BACKOFF = Backoff()


class OutcomeKind(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    RETRY = "RETRY"


@dataclass(frozen=True)
class TaskOutcome:
    job_id: str
    task_id: str
    # None for transitions not made by an attempt (cancelling, dead-lettering): they check status only.
    attempt: int | None
    kind: OutcomeKind
    result: Any = None
    error: str | None = None
    retry_delay_seconds: float = 0.0
    # True when the transition starts from RUNNING (a claimed long task), so the running count drops.
    from_running: bool = False
    tenant: str = ""
    task_type: str = ""
    # The task's job bounds its tasks in flight: when this one ends, the next one may be sent.
    windowed: bool = False

    @property
    def is_final(self) -> bool:
        return self.kind is not OutcomeKind.RETRY


def run_attempt(
    message: TaskMessage,
    attempt: int,
    registry: TaskRegistry,
    context: TaskContext | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> TaskOutcome:
    """Run the task's function once and say what should happen next; never raises for task errors."""

    def outcome(kind: OutcomeKind, **fields: Any) -> TaskOutcome:
        return TaskOutcome(
            job_id=message.job_id, task_id=message.task_id, attempt=attempt, kind=kind, tenant=message.tenant,
            task_type=message.type, **fields,
        )

    task_type = registry.get(message.type)
    if task_type is None:
        return outcome(OutcomeKind.FAILED, error=f"UnknownTaskType: no task type named {message.type!r}")
    ctx = context or TaskContext(job_id=message.job_id, task_id=message.task_id, attempt=attempt)
    try:
        result = call_with_timeout(lambda: task_type.function(message.payload, ctx), message.timeout_seconds)
        _check_storable(result)
    except NonRetryableTaskFailure as exc:
        return outcome(OutcomeKind.FAILED, error=describe(exc))
    except RetryTaskAfter as exc:
        if not message.attempts_left_after(attempt):
            return outcome(OutcomeKind.FAILED, error=describe(exc))
        return outcome(OutcomeKind.RETRY, error=describe(exc), retry_delay_seconds=exc.seconds)
    except Exception as exc:  # noqa: BLE001 - any error in user code is the task's failure, not ours
        if not message.attempts_left_after(attempt):
            return outcome(OutcomeKind.FAILED, error=describe(exc))
        retry = attempt - message.attempt_offset
        return outcome(OutcomeKind.RETRY, error=describe(exc), retry_delay_seconds=backoff.delay(retry))
    return outcome(OutcomeKind.SUCCEEDED, result=result)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _check_storable(result: Any) -> None:
    try:
        size = len(json.dumps(result, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise NonRetryableTaskFailure(f"the task's result is not JSON: {exc}") from exc
    if size > MAX_RESULT_BYTES:
        raise NonRetryableTaskFailure(f"the task's result is {size} bytes; at most {MAX_RESULT_BYTES} are stored")
