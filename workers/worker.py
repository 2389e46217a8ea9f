"""The long-task worker loop: poll, run with bounded concurrency, heartbeat, claim, commit, acknowledge, drain.

All queue and task state belongs to the loop's thread. Only blocking work is handed out: the long poll
(with reading the bodies and finding the jobs asked to stop) to one poller thread, so a 20 s wait never
delays a commit, a heartbeat or a shutdown, and tasks to a pool of `concurrency` threads. The loop wakes
when either finishes, or every `tick_seconds`.

A message carries one task or a bundle of them. Acknowledgement rules: a message is deleted once every
task it carries is accounted for: its final outcome committed, nothing to record (a duplicate delivery,
a stale outcome, an abandoned attempt), or sent on as a message of its own (a bundled task's retry, or
one that waited too long for a free slot). A single task's retry keeps its message, hidden by the runner
for the backoff delay. A body that is not a task, or an attempt that failed for the worker's own
reasons, leaves its message alone: SQS redelivers it after the visibility timeout (a bundle then comes
apart into single tasks) and its redrive policy dead-letters it in the end.

A first attempt is claimed RUNNING only once it reports progress or runs past `claim_after_seconds`
(tasklane/claims.py): most tasks end sooner, and skip the claim's two requests.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import ValidationError

from tasklane.backoff import Backoff
from tasklane.claims import TaskClaim
from tasklane.consumer import QueueConsumer
from tasklane.execution import OutcomeKind, TaskOutcome
from tasklane.models import TaskBundle, TaskMessage, read_queue_body_or_why_not, tasks_of
from tasklane.running import Delivery, RetryScheduled, TaskRunner
from workers.heartbeat import Heartbeat
from workers.metrics import Counter, Metrics
from workers.progress import ProgressStore, TaskCancelled, WorkerTaskContext, task_context
from workers.stop_checks import StopChecks

log = logging.getLogger(__name__)

SQS_MAX_MESSAGES = 10
MAX_COMMIT_BATCH = 99  # DynamoDB takes 100 items per transaction; one is the job's counters
POLL_BACKOFF = Backoff(base_seconds=1.0, cap_seconds=20.0)


class ExitCode(IntEnum):
    DRAINED = 0  # stopped on a signal with every running task finished
    DEADLINE = 1  # the drain deadline passed with tasks still running; their messages were handed back
    CONFIG = 2  # bad settings, or the health port could not be bound
    CRASHED = 70  # a bug in the loop itself (EX_SOFTWARE)
    FORCED = 130  # a second signal cut the drain short (128 + SIGINT, as shells report it)


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 4
    prefetch: int = 0  # messages received ahead of a free slot
    visibility_seconds: int = 300
    poll_wait_seconds: int = 20
    drain_seconds: float = 540.0
    tick_seconds: float = 0.25
    liveness_seconds: float = 60.0  # /healthz fails when the loop has not ticked for this long
    progress_interval_seconds: float = 1.0  # progress reports closer together are dropped
    claim_after_seconds: float = 1.0  # a first attempt still running this long is claimed RUNNING
    handoff_seconds: float = 2.0  # a bundled task waiting this long for a slot is sent on for any worker
    # A finished outcome waits at most this long for others to share its commit, while the worker has
    # other tasks in hand: one transaction for many tasks instead of one for each.
    commit_linger_seconds: float = 0.1
    stop_check_seconds: float = 1.0  # how long a read of which jobs are asked to stop is trusted


class _End(StrEnum):
    COMMIT = "commit"  # a final outcome to commit, then acknowledge
    NOTHING = "nothing"  # duplicate or stale: acknowledge
    ABANDONED = "abandoned"  # the attempt stopped on TaskCancelled: acknowledge
    SENT_ON = "sent_on"  # a bundled task left its bundle as a message of its own (a retry): acknowledge
    RETRY = "retry"  # a single task's message is hidden for the backoff delay: keep
    ERROR = "error"  # the worker could not run it: keep, SQS redelivers it


@dataclass(eq=False)
class _Held:
    """One received message, held (and kept hidden) until every task it carries is accounted for."""

    delivery: Delivery
    open: int
    bundled: bool
    stopping_jobs: frozenset[str]  # of its tasks' jobs, those asked to stop when it was received
    keep: bool = False  # a task was not accounted for: the message is left for redelivery


@dataclass(eq=False)
class _Unit:
    """One task of a held message, waiting for a slot or running."""

    held: _Held
    message: TaskMessage
    queued_at: float
    claim: TaskClaim | None = None
    context: WorkerTaskContext | None = None
    started_at: float = 0.0


@dataclass(frozen=True)
class _Finished:
    unit: _Unit
    end: _End
    outcome: TaskOutcome | None = None


@dataclass(frozen=True)
class _Read:
    """One received message's body: a task, a bundle, or why it is neither."""

    delivery: Delivery
    body: TaskBundle | TaskMessage | ValidationError


@dataclass(frozen=True)
class _Received:
    started_at: float
    seconds: float
    messages: list[_Read]
    stopping_jobs: frozenset[str]


class Worker:
    def __init__(
        self,
        *,
        consumer: QueueConsumer,
        runner: TaskRunner,
        progress: ProgressStore,
        heartbeat: Heartbeat,
        metrics: Metrics,
        options: WorkerOptions,
        clock: Callable[[], float] = time.monotonic,
        pool: Executor | None = None,
    ) -> None:
        self._consumer = consumer
        self._runner = runner
        self._progress = progress
        self._heartbeat = heartbeat
        self._metrics = metrics
        self._options = options
        self._clock = clock
        self._pool = pool or ThreadPoolExecutor(options.concurrency, thread_name_prefix="task")
        self._poller = ThreadPoolExecutor(1, thread_name_prefix="poller")
        # Used on the poller thread only.
        self._stop_checks = StopChecks(
            runner.store.stopped_jobs, max_age_seconds=options.stop_check_seconds, clock=clock
        )
        self._pending: deque[_Unit] = deque()
        self._running: dict[Future[_Finished], _Unit] = {}
        self._finished: list[_Finished] = []  # ended, waiting to be committed and acknowledged together
        self._finished_since = 0.0
        self._poll: Future[_Received] | None = None
        self._poll_issued_at = 0.0
        self._poll_failures = 0
        self._next_poll_at = 0.0
        self._last_tick = clock()
        self._ready = False
        self._stopping = False
        self._forced = False

    # --- control, safe to call from a signal handler: they only set flags --------------------------------

    def request_stop(self) -> None:
        """The first call drains; a second forces the exit."""
        if self._stopping:
            self._forced = True
        self._stopping = True
        self._ready = False

    def is_alive(self) -> bool:
        return self._clock() - self._last_tick < self._options.liveness_seconds

    def is_ready(self) -> bool:
        return self._ready

    # --- the loop ---------------------------------------------------------------------------------------

    def run(self) -> ExitCode:
        log.info("worker started", extra={"concurrency": self._options.concurrency})
        self._ready = not self._stopping
        try:
            while not self._stopping:
                self._step(polling=True)
            return self._drain()
        except BaseException:
            held = [*self._pending, *self._running.values(), *(f.unit for f in self._finished)]
            self._hand_back(_messages_of(held))
            raise
        finally:
            self._ready = False
            self._poller.shutdown(wait=False, cancel_futures=True)
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _drain(self) -> ExitCode:
        log.info("draining", extra={"running": len(self._running), "unstarted": len(self._pending)})
        self._give_up_pending()
        deadline = self._clock() + self._options.drain_seconds
        # An outstanding long poll is waited for too (at most its wait time), so that what it brings
        # back is handed back at once instead of staying hidden for a whole visibility timeout.
        while (self._running or self._poll) and not self._forced and self._clock() < deadline:
            self._step(polling=False)
        self._flush(force=True)
        if not self._running:
            log.info("drained")
            return ExitCode.FORCED if self._forced else ExitCode.DRAINED
        # The process is about to end these threads: let another worker start their tasks now.
        self._hand_back(_messages_of(self._running.values()))
        code = ExitCode.FORCED if self._forced else ExitCode.DEADLINE
        log.warning("exiting with tasks still running", extra={"running": len(self._running), "code": int(code)})
        return code

    def _step(self, *, polling: bool) -> None:
        self._last_tick = self._clock()
        self._reap()
        self._collect_poll()
        if polling:
            self._hand_off_waiting()
            self._start_pending()
            self._maybe_poll()  # before the commit, so that the next receive overlaps it
        self._flush()
        self._claim_overdue()
        self._heartbeat.beat()
        self._metrics.set_in_flight(len(self._running))
        self._wait()

    def _wait(self) -> None:
        timeout = self._options.tick_seconds
        if self._finished:
            timeout = min(timeout, max(0.0, self._finished_since + self._options.commit_linger_seconds - self._clock()))
        next_beat = self._heartbeat.next_due()
        if next_beat is not None:
            timeout = min(timeout, max(0.0, next_beat - self._clock()))
        waiting: list[Future[Any]] = [*self._running]
        if self._poll is not None:
            waiting.append(self._poll)
        if waiting:
            wait(waiting, timeout=timeout, return_when=FIRST_COMPLETED)
        else:
            time.sleep(timeout)

    # --- receiving --------------------------------------------------------------------------------------

    def _maybe_poll(self) -> None:
        room = self._options.concurrency + self._options.prefetch - len(self._running) - len(self._pending)
        if self._poll is not None or room <= 0 or self._clock() < self._next_poll_at:
            return
        self._poll = self._poller.submit(self._receive, min(SQS_MAX_MESSAGES, room))
        self._poll_issued_at = self._clock()

    def _receive(self, max_messages: int) -> _Received:
        """On the poller thread: receive, read each body once, and ask which of their jobs are stopping."""
        started = self._clock()
        deliveries = self._consumer.receive(
            max_messages,
            wait_seconds=self._options.poll_wait_seconds,
            visibility_seconds=self._options.visibility_seconds,
        )
        seconds = self._clock() - started
        messages = [_Read(delivery, read_queue_body_or_why_not(delivery.body)) for delivery in deliveries]
        readable = [m.body for m in messages if not isinstance(m.body, ValidationError)]
        try:
            stopping = self._stop_checks.stopping(task.job_id for body in readable for task in tasks_of(body))
        except Exception:
            # Not knowing costs little: a stopping job's task is then refused at its claim or its commit.
            log.warning("could not read which jobs are stopping", exc_info=True)
            stopping = frozenset()
        return _Received(started, seconds, messages, stopping)

    def _collect_poll(self) -> None:
        if self._poll is None or not self._poll.done():
            return
        poll, self._poll = self._poll, None
        try:
            received = poll.result()
        except Exception:
            self._poll_failures += 1
            delay = POLL_BACKOFF.ceiling(self._poll_failures)
            log.exception("receive failed; polling again in %.1f s", delay)
            self._next_poll_at = self._clock() + delay
            return
        self._poll_failures = 0
        self._metrics.observe_poll(received.seconds)
        if self._stopping:
            self._hand_back([m.delivery for m in received.messages])
            return
        now = self._clock()
        for read in received.messages:
            delivery, body = read.delivery, read.body
            if isinstance(body, ValidationError):
                self._left_for_redrive(delivery, str(body.errors()[:3]))
                continue
            if isinstance(body, TaskBundle) and delivery.attempt > 1:
                self._split(delivery, body.tasks)
                continue
            tasks = tasks_of(body)
            held = _Held(delivery, len(tasks), isinstance(body, TaskBundle), received.stopping_jobs)
            # The visibility timer started after the request did: counting from then is conservative.
            self._heartbeat.track(delivery.receipt_handle, received.started_at)
            self._pending.extend(_Unit(held, message, now) for message in tasks)

    def _split(self, delivery: Delivery, tasks: list[TaskMessage]) -> None:
        """A bundle that came back: its worker died on it. Its tasks go on alone, then it is deleted."""
        try:
            self._runner.split(delivery, tasks)
        except Exception:
            log.exception("could not split a bundle that came back; it returns after its visibility timeout")
            return
        self._delete([delivery])

    def _hand_back(self, deliveries: Iterable[Delivery]) -> None:
        """Make messages visible again at once, for another worker to take."""
        handles = [d.receipt_handle for d in deliveries]
        if not handles:
            return
        for handle in handles:
            self._heartbeat.release(handle)
        try:
            failures = self._consumer.change_visibility(handles, 0)
        except Exception:
            log.exception("could not hand back %d messages; they return after their visibility timeout", len(handles))
            return
        log.info("handed back messages", extra={"count": len(handles) - len(failures)})

    def _give_up_pending(self) -> None:
        """On a stop: unstarted bundled tasks are sent on alone, unstarted single ones handed back."""
        units, self._pending = list(self._pending), deque()
        bundled = [u for u in units if u.held.bundled]
        self._send_on(bundled)
        singles = [u for u in units if not u.held.bundled]
        for unit in singles:
            unit.held.open -= 1
        self._hand_back(u.held.delivery for u in singles)

    def _hand_off_waiting(self) -> None:
        """Bundled tasks that waited too long for a slot go on alone, for whichever worker is free."""
        if len(self._running) < self._options.concurrency:
            return
        limit = self._clock() - self._options.handoff_seconds
        waiting = [u for u in self._pending if u.held.bundled and u.queued_at <= limit]
        if waiting:
            self._pending = deque(u for u in self._pending if u not in waiting)
            self._send_on(waiting)

    def _send_on(self, units: list[_Unit]) -> None:
        finished: list[_Finished] = []
        for unit in units:
            try:
                self._runner.send_on(unit.held.delivery, unit.message)
                finished.append(_Finished(unit, _End.SENT_ON))
            except Exception:
                log.exception("could not send a task on", extra={"task_id": unit.message.task_id})
                finished.append(_Finished(unit, _End.ERROR))
        self._account(finished, acknowledged=[f for f in finished if f.end is _End.SENT_ON])

    # --- running ----------------------------------------------------------------------------------------

    def _start_pending(self) -> None:
        while self._pending and len(self._running) < self._options.concurrency:
            unit = self._pending.popleft()
            message, delivery = unit.message, unit.held.delivery
            attempt = message.attempt(delivery.attempt)
            unit.claim = TaskClaim(self._runner.store, message, attempt, eager=attempt > 1)
            unit.context = task_context(
                self._progress, message, attempt, self._clock, self._options.progress_interval_seconds, unit.claim
            )
            unit.started_at = self._clock()
            self._running[self._pool.submit(self._execute, unit)] = unit
            self._metrics.inc(Counter.STARTED)

    def _execute(self, unit: _Unit) -> _Finished:
        """Runs on a pool thread; never raises, so that every task is accounted for."""
        delivery, bundled, stopping_jobs = unit.held.delivery, unit.held.bundled, unit.held.stopping_jobs
        claim, context = unit.claim, unit.context
        try:
            if bundled:
                outcome = self._runner.run_bundled(
                    delivery, unit.message, claim=claim, context=context, stopping_jobs=stopping_jobs
                )
            else:
                outcome = self._runner.run(
                    delivery, message=unit.message, claim=claim, context=context, stopping_jobs=stopping_jobs
                )
        except RetryScheduled:
            return _Finished(unit, _End.SENT_ON if bundled else _End.RETRY)
        except TaskCancelled:
            return _Finished(unit, _End.ABANDONED)
        except Exception:
            log.exception("attempt could not run", extra={"message_id": delivery.message_id})
            return _Finished(unit, _End.ERROR)
        if outcome is None:
            return _Finished(unit, _End.NOTHING)
        return _Finished(unit, _End.COMMIT, outcome)

    def _claim_overdue(self) -> None:
        """Claim the first attempts that have run past `claim_after_seconds`, so that they show as RUNNING."""
        limit = self._clock() - self._options.claim_after_seconds
        for future, unit in list(self._running.items()):
            claim = unit.claim
            if claim is None or unit.started_at > limit or claim.asked or future.done():
                continue
            try:
                owned = claim.take()
            except Exception:
                log.warning("could not claim a running task", exc_info=True, extra={"task_id": unit.message.task_id})
                continue
            if not owned and unit.context is not None:
                unit.context.cancel_event.set()  # the next progress report ends the attempt

    def _reap(self) -> None:
        done = [future for future in self._running if future.done()]
        if not done:
            return
        finished: list[_Finished] = []
        for future in done:
            unit = self._running.pop(future)
            error = future.exception()  # only a BaseException from task code gets past _execute
            finished.append(_Finished(unit, _End.ERROR) if error else future.result())
        self._metrics.inc(Counter.DISCARDED, sum(f.end in (_End.NOTHING, _End.ABANDONED) for f in finished))
        self._metrics.inc(Counter.RETRIED, sum(f.end in (_End.RETRY, _End.SENT_ON) for f in finished))
        self._metrics.inc(Counter.ERRORS, sum(f.end is _End.ERROR for f in finished))
        if not self._finished:
            self._finished_since = self._clock()
        self._finished += finished

    def _flush(self, *, force: bool = False) -> None:
        """Commit what finished and acknowledge its messages, once the linger is over or nothing else is in hand."""
        if not self._finished:
            return
        # A receive answered within the linger brings company; one still out after it is a long poll waiting.
        linger = self._options.commit_linger_seconds
        receiving = self._poll is not None and self._clock() - self._poll_issued_at < linger
        busy = self._running or self._pending or receiving
        lingering = self._clock() - self._finished_since < linger
        if busy and lingering and not force and len(self._finished) < MAX_COMMIT_BATCH:
            return
        finished, self._finished = self._finished, []
        acknowledged = [f for f in finished if f.end in (_End.NOTHING, _End.ABANDONED, _End.SENT_ON)]
        acknowledged += self._commit([f for f in finished if f.end is _End.COMMIT])
        self._account(finished, acknowledged)

    def _commit(self, finished: list[_Finished]) -> list[_Finished]:
        """Commit the outcomes that finished together; returns the ones safe to acknowledge."""
        if not finished:
            return []
        try:
            report = self._runner.commit([f.outcome for f in finished if f.outcome is not None])
        except Exception:
            # Not acknowledged: SQS redelivers them and the next attempt commits (or finds them already final).
            log.exception("could not commit %d outcomes", len(finished))
            self._metrics.inc(Counter.ERRORS, len(finished))
            return []
        self._metrics.inc(Counter.SUCCEEDED, sum(o.kind is OutcomeKind.SUCCEEDED for o in report.applied))
        self._metrics.inc(Counter.FAILED, sum(o.kind is OutcomeKind.FAILED for o in report.applied))
        self._metrics.inc(Counter.DISCARDED, len(report.stale))
        return finished

    def _account(self, finished: list[_Finished], acknowledged: list[_Finished]) -> None:
        """Count each finished task against its message; delete the messages whose every task is acknowledged."""
        safe = {id(f) for f in acknowledged}
        closed: list[_Held] = []
        for item in finished:
            held = item.unit.held
            if id(item) not in safe:
                held.keep = True
                if item.end is _End.ERROR:
                    log.warning("message left for redelivery", extra={
                        "message_id": held.delivery.message_id, "task_id": item.unit.message.task_id})
            held.open -= 1
            if held.open == 0:
                closed.append(held)
        for held in closed:
            self._heartbeat.release(held.delivery.receipt_handle)
        self._delete([held.delivery for held in closed if not held.keep])

    def _delete(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        try:
            failures = self._consumer.delete([d.receipt_handle for d in deliveries])
        except Exception:
            # Redelivered later, found final by its claim or its commit, and deleted then.
            log.exception("could not delete %d messages", len(deliveries))
            return
        for failure in failures:
            log.warning("delete refused", extra={"code": failure.code, "reason": failure.message})

    def _left_for_redrive(self, delivery: Delivery, detail: str) -> None:
        """A body that is not a task never parses: back at once, so its receives run out and it is dead-lettered."""
        self._metrics.inc(Counter.INVALID)
        self._hand_back([delivery])
        log.warning("message left for redelivery",
                    extra={"message_id": delivery.message_id, "reason": "invalid", "detail": detail})


def _messages_of(units: Iterable[_Unit]) -> list[Delivery]:
    """The messages these tasks came in, each once."""
    return list({id(u.held): u.held.delivery for u in units}.values())
