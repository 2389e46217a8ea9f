"""Taking in what the task queues' dead-letter queues hold: into the dead-letter view, so nothing is lost.

A message SQS gave up on (too many receives: a worker kept dying on it, or its body is not a task) is
turned into dead letters, one per task it carries (a bundle of short tasks carries several). Each task
still PENDING or RUNNING is failed for good, with the job's counters, so the job can finish; the body is
kept when it could not be read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pydantic import ValidationError

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.clock import now_iso
from tasklane.completion import record_outcomes
from tasklane.dead_letters import UNROUTED_TENANT, DeadLetter, fingerprint
from tasklane.models import TaskMessage, TaskStatus, tasks_in
from tasklane.ports import JobStore, WorkflowResumer


@dataclass(frozen=True)
class DeadMessage:
    message_id: str
    body: str
    receive_count: int
    attributes: dict[str, str]


def take_in(message: DeadMessage, store: JobStore, workflow: WorkflowResumer) -> list[DeadLetter]:
    """Record one dead-lettered message; returns the dead letters written apart from the tasks' own commits."""
    try:
        tasks = tasks_in(message.body)
    except ValidationError as exc:
        unreadable = _unreadable(message, exc)
        store.put_dead_letter(unreadable)
        return [unreadable]
    letters = [_take_in_task(task, store, workflow) for task in tasks]
    return [letter for letter in letters if letter is not None]


def _take_in_task(task: TaskMessage, store: JobStore, workflow: WorkflowResumer) -> DeadLetter | None:
    record = store.get_task(task.job_id, task.task_id)
    error = "DeadLettered: the task queue gave up on the message after its maxReceiveCount receives"
    if record is not None and not record.status.is_final:
        outcome = TaskOutcome(
            job_id=task.job_id, task_id=task.task_id, attempt=None, kind=OutcomeKind.FAILED, error=error,
            from_running=record.status is TaskStatus.RUNNING, tenant=task.tenant, task_type=task.type,
        )
        if record_outcomes([outcome], store, workflow).applied:
            return None  # the commit wrote the dead letter with the task's failure
    letter = DeadLetter(
        tenant=task.tenant or UNROUTED_TENANT, fingerprint=fingerprint(task.type, error), job_id=task.job_id,
        task_id=task.task_id, task_type=task.type, error=error, source="queue", dead_at=now_iso(),
    )
    store.put_dead_letter(letter)
    return letter


def _unreadable(message: DeadMessage, exc: ValidationError) -> DeadLetter:
    problem = "the body is not JSON" if _not_json(message.body) else f"the body is not a task: {exc.errors()[0]['msg']}"
    error = f"UnreadableMessage: {problem}"
    return DeadLetter(
        tenant=message.attributes.get("tenant") or UNROUTED_TENANT,
        fingerprint=fingerprint("unknown", error),
        job_id=message.attributes.get("job_id", "unknown"),
        # Different unreadable messages of one task are all kept, each under a digest of its content, so a
        # message the queue dead-letters twice (an at-least-once move) is still one dead letter.
        task_id=f"{message.attributes.get('task_id', 'unknown')}@{_content_digest(message)}",
        task_type="unknown",
        error=error,
        source="queue",
        dead_at=now_iso(),
        body=message.body,
    )


def _content_digest(message: DeadMessage) -> str:
    routing = json.dumps(message.attributes, sort_keys=True)
    return hashlib.sha256(f"{routing}\n{message.body}".encode()).hexdigest()[:16]


def _not_json(body: str) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return True
    return False
