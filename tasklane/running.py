"""Turning one queue delivery into a task attempt and its outcome; shared by both runtimes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from tasklane.completion import record_outcomes
from tasklane.execution import OutcomeKind, TaskOutcome, run_attempt
from tasklane.models import TaskMessage
from tasklane.ports import CommitResult, JobStore, RetryScheduler, WorkflowResumer
from tasklane.registry import TaskContext, TaskRegistry


@dataclass(frozen=True)
class Delivery:
    """One receipt of a queue message; `attempt` is SQS's receive count for it."""

    message_id: str
    body: str
    receipt_handle: str
    attempt: int


class RetryScheduled(Exception):
    """The message stays on the queue, hidden until its next attempt is due."""


@dataclass
class TaskRunner:
    store: JobStore
    resumer: WorkflowResumer
    retries: RetryScheduler
    registry: TaskRegistry

    def run(self, delivery: Delivery, *, claim: bool = False, context: TaskContext | None = None) -> TaskOutcome | None:
        """Run one delivery; returns its final outcome to commit, or None when there is nothing to record.

        A message that is not a task raises (pydantic's ValidationError), so SQS redelivers it until its
        queue's redrive policy moves it to the dead-letter queue. `claim` marks the task RUNNING first, for
        long tasks whose progress is worth showing.
        """
        message = TaskMessage.model_validate_json(delivery.body)
        if claim and not self.store.mark_running(message, delivery.attempt):
            return None  # already final, or a newer attempt holds it: this delivery is a duplicate
        outcome = run_attempt(message, delivery.attempt, self.registry, context)
        if claim:
            outcome = _from_running(outcome)
        if outcome.kind is OutcomeKind.RETRY:
            if self.commit([outcome]).applied:
                self.retries.retry_later(delivery.receipt_handle, outcome.retry_delay_seconds)
                raise RetryScheduled(outcome.error)
            return None
        return outcome

    def commit(self, outcomes: Iterable[TaskOutcome]) -> CommitResult:
        return record_outcomes(outcomes, self.store, self.resumer)


def _from_running(outcome: TaskOutcome) -> TaskOutcome:
    return replace(outcome, from_running=True)
