"""Turning one queue delivery into task attempts and their outcomes; shared by both runtimes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from tasklane.attempts import OutcomeKind, TaskOutcome, run_attempt
from tasklane.claims import TaskClaim
from tasklane.completion import record_outcomes
from tasklane.models import TaskMessage
from tasklane.ports import CommitResult, JobStore, RetryScheduler, WorkflowResumer
from tasklane.registry import TaskContext, TaskRegistry

# (job_id, tenant, how many of its tasks just ended) -> tasks sent in their place
Release = Callable[[str, str, int], int]
PayloadLoader = Callable[[str], dict]
# Sends one task as a message of its own after a delay in seconds.
SendLater = Callable[[TaskMessage, float], None]
# Seconds the runner has left before its platform stops it.
TimeLeft = Callable[[], float]

# A bundled task is not started with less time than this left (plus its own timeout): it is sent on.
HANDBACK_RESERVE_SECONDS = 15.0
# A task woken this close to its not_before runs now: clocks differ by less, and SQS delays are coarse.
NOT_BEFORE_SLACK_SECONDS = 1.0


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
class DeliveryHandler:
    store: JobStore
    resumer: WorkflowResumer
    retries: RetryScheduler
    registry: TaskRegistry
    load_payload: PayloadLoader | None = None
    release: Release | None = None
    send_later: SendLater | None = None
    clock: Callable[[], float] = field(default=time.time)
    # The timeout of a task whose message has none (sent before every task had one): its runtime's default.
    default_timeout_seconds: int | None = None
    # The longest a task may run in this runtime; a longer timeout (a task that came to the wrong queue) is cut to it,
    # so that it fits a fresh invocation instead of being sent on for ever.
    max_timeout_seconds: int | None = None

    def run(
        self,
        delivery: Delivery,
        *,
        claim: TaskClaim | None = None,
        context: TaskContext | None = None,
        stopping_jobs: frozenset[str] | set[str] = frozenset(),
        message: TaskMessage | None = None,
        time_left: TimeLeft | None = None,
    ) -> TaskOutcome | None:
        """Run one delivery of one task; returns its final outcome to commit, or None when there is nothing to record.

        A message that is not a task raises (pydantic's ValidationError), so SQS redelivers it until its
        queue's redrive policy moves it to the dead-letter queue. A `claim` marks the task RUNNING, for long
        tasks whose progress is worth showing; an eager claim is taken first, and fails once the job is
        stopping. Tasks of `stopping_jobs` are not started at all: their job's stop step cancels them.
        `message` is the delivery's body when the caller has read it already. With `time_left`, a task there
        is no longer time to run to its timeout is sent on as a message of its own, its attempt unspent.
        """
        message = self._bounded(message or TaskMessage.model_validate_json(delivery.body))
        attempt = message.attempt(delivery.attempt)
        if self._not_due(message, attempt):
            return None
        if self._no_time_for(message, time_left):
            self.send_on(delivery, message)
            return None
        outcome = self._attempt(message, attempt, claim=claim, context=context, stopping_jobs=stopping_jobs)
        if outcome is not None and outcome.kind is OutcomeKind.RETRY:
            if self.commit([outcome]).applied:
                self.retries.retry_later(delivery.receipt_handle, outcome.retry_delay_seconds)
                raise RetryScheduled(outcome.error)
            return None
        return outcome

    def run_bundle(
        self,
        delivery: Delivery,
        tasks: list[TaskMessage],
        *,
        stopping_jobs: frozenset[str] | set[str] = frozenset(),
        time_left: TimeLeft | None = None,
    ) -> list[TaskOutcome]:
        """Run the tasks of one bundled delivery in turn; returns their final outcomes to commit.

        A task due for another attempt, or one there is no longer time to start, leaves the bundle as a
        message of its own (its retry committed first), so the delivery itself always succeeds.
        """
        if self.send_later is None:
            raise RuntimeError("this runner cannot send a task on its own, so it cannot run bundles")
        if delivery.attempt > 1:
            self.split(delivery, tasks)
            return []
        finals: list[TaskOutcome] = []
        for message in map(self._bounded, tasks):
            if self._no_time_for(message, time_left):
                self.send_on(delivery, message)
                continue
            try:
                outcome = self.run_bundled(delivery, message, stopping_jobs=stopping_jobs)
            except RetryScheduled:
                continue
            if outcome is not None:
                finals.append(outcome)
        return finals

    def run_bundled(
        self,
        delivery: Delivery,
        message: TaskMessage,
        *,
        claim: TaskClaim | None = None,
        context: TaskContext | None = None,
        stopping_jobs: frozenset[str] | set[str] = frozenset(),
    ) -> TaskOutcome | None:
        """Run one task of a bundled delivery: as `run`, but a retry leaves the bundle as a message of its own."""
        attempt = message.attempt(delivery.attempt)
        outcome = self._attempt(message, attempt, claim=claim, context=context, stopping_jobs=stopping_jobs)
        if outcome is not None and outcome.kind is OutcomeKind.RETRY:
            if self.commit([outcome]).applied:
                self._send_again(message, after_attempt=attempt, delay=outcome.retry_delay_seconds)
                raise RetryScheduled(outcome.error)
            return None
        return outcome

    def split(self, delivery: Delivery, tasks: list[TaskMessage]) -> None:
        """A bundle that came back (its runner died on it) goes on as one message per task.

        So a task that kills its runner fails by itself instead of taking its siblings to the dead-letter queue.
        """
        for message in tasks:
            self.send_on(delivery, message)

    def send_on(self, delivery: Delivery, message: TaskMessage) -> None:
        """Send a bundled task as a message of its own, counting the receives before this delivery as attempts."""
        self._send_again(message, after_attempt=message.attempt(delivery.attempt) - 1, delay=0)

    def commit(self, outcomes: Iterable[TaskOutcome]) -> CommitResult:
        """Commit final outcomes; each ended task of a windowed job lets its job's next task be sent."""
        report = record_outcomes(outcomes, self.store, self.resumer)
        if self.release is not None:
            ended = Counter((o.job_id, o.tenant) for o in report.applied if o.windowed and o.is_final)
            for (job_id, tenant), count in ended.items():
                self.release(job_id, tenant, count)
        return report

    def _attempt(
        self,
        message: TaskMessage,
        attempt: int,
        *,
        claim: TaskClaim | None,
        context: TaskContext | None,
        stopping_jobs: frozenset[str] | set[str],
    ) -> TaskOutcome | None:
        if message.job_id in stopping_jobs:
            return None
        if claim is not None and claim.eager and not claim.take():
            claim.close()
            return None  # already final, held by a newer attempt, or its job is stopping
        if message.payload_ref:
            if self.load_payload is None:
                raise RuntimeError("a task's payload is stored by reference, but this runner cannot load it")
            message = message.model_copy(update={"payload": self.load_payload(message.payload_ref)})
        try:
            outcome = run_attempt(message, attempt, self.registry, context)
        finally:
            claimed = claim.close() if claim is not None else False
        return replace(outcome, from_running=claimed, windowed=message.windowed)

    def _bounded(self, message: TaskMessage) -> TaskMessage:
        """The task with the timeout it runs under here: its own or the runtime's default, never past the runtime's
        maximum (a task meant for another runtime, misrouted here, gets no more time than this one grants)."""
        timeout = message.timeout_seconds if message.timeout_seconds is not None else self.default_timeout_seconds
        if timeout is not None and self.max_timeout_seconds is not None:
            timeout = min(timeout, self.max_timeout_seconds)
        if timeout == message.timeout_seconds:
            return message
        return message.model_copy(update={"timeout_seconds": timeout})

    @staticmethod
    def _no_time_for(message: TaskMessage, time_left: TimeLeft | None) -> bool:
        """True when the task could run to its timeout past the runner's own end, leaving no time to commit."""
        return time_left is not None and time_left() < HANDBACK_RESERVE_SECONDS + (message.timeout_seconds or 0)

    def _not_due(self, message: TaskMessage, attempt: int) -> bool:
        """True when the task came before its not_before and was sent on for the rest of its wait."""
        if message.not_before is None or self.send_later is None:
            return False
        wait = message.not_before - self.clock()
        if wait <= NOT_BEFORE_SLACK_SECONDS:
            return False
        self._send_again(message, after_attempt=attempt - 1, delay=wait)
        return True

    def _send_again(self, message: TaskMessage, *, after_attempt: int, delay: float) -> None:
        """Send the task on its own; its next receive is attempt `after_attempt + 1`."""
        if self.send_later is None:
            raise RuntimeError("this runner cannot send a task on its own, so it cannot run bundles")
        update = {
            "earlier_receives": after_attempt - message.attempt_offset,
            "not_before": self.clock() + delay if delay > 0 else None,
        }
        self.send_later(message.model_copy(update=update), delay)
