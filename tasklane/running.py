"""Turning one queue delivery into a task attempt and its outcome; shared by both runtimes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from tasklane.completion import record_outcomes
from tasklane.execution import OutcomeKind, TaskOutcome, run_attempt
from tasklane.models import TaskMessage
from tasklane.ports import CommitResult, JobStore, RetryScheduler, WorkflowResumer
from tasklane.registry import TaskContext, TaskRegistry

# (job_id, tenant, how many of its tasks just ended) -> tasks sent in their place
Release = Callable[[str, str, int], int]
PayloadLoader = Callable[[str], dict]


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
    load_payload: PayloadLoader | None = None
    release: Release | None = None

    def run(
        self,
        delivery: Delivery,
        *,
        claim: bool = False,
        context: TaskContext | None = None,
        stopping_jobs: frozenset[str] | set[str] = frozenset(),
    ) -> TaskOutcome | None:
        """Run one delivery; returns its final outcome to commit, or None when there is nothing to record.

        A message that is not a task raises (pydantic's ValidationError), so SQS redelivers it until its
        queue's redrive policy moves it to the dead-letter queue. `claim` marks the task RUNNING first, for
        long tasks whose progress is worth showing; the claim also fails once the job is stopping. Tasks of
        `stopping_jobs` are not started at all: their job's stop step cancels them.
        """
        message = TaskMessage.model_validate_json(delivery.body)
        if message.job_id in stopping_jobs:
            return None
        attempt = message.attempt(delivery.attempt)
        if claim and not self.store.mark_running(message, attempt):
            return None  # already final, held by a newer attempt, or its job is stopping
        if message.payload_ref:
            if self.load_payload is None:
                raise RuntimeError("a task's payload is stored by reference, but this runner cannot load it")
            message = message.model_copy(update={"payload": self.load_payload(message.payload_ref)})
        outcome = run_attempt(message, attempt, self.registry, context)
        outcome = replace(outcome, from_running=claim, windowed=message.windowed)
        if outcome.kind is OutcomeKind.RETRY:
            if self.commit([outcome]).applied:
                self.retries.retry_later(delivery.receipt_handle, outcome.retry_delay_seconds)
                raise RetryScheduled(outcome.error)
            return None
        return outcome

    def commit(self, outcomes: Iterable[TaskOutcome]) -> CommitResult:
        """Commit final outcomes; each ended task of a windowed job lets its job's next task be sent."""
        report = record_outcomes(outcomes, self.store, self.resumer)
        if self.release is not None:
            ended = Counter((o.job_id, o.tenant) for o in report.applied if o.windowed and o.is_final)
            for (job_id, tenant), count in ended.items():
                self.release(job_id, tenant, count)
        return report
