"""The long-task worker loop: poll, run with bounded concurrency, heartbeat, claim, commit, acknowledge, drain.

All queue and task state belongs to the loop's thread. Only blocking work is handed out: the long poll
to the Poller's thread (workers/poller.py), and tasks to a pool of `concurrency` threads. The loop wakes
when either finishes, or every `tick_seconds`. A message carries one task or a bundle of them; when it may
be deleted is Acknowledgements' business (workers/acknowledgements.py). A bundle that comes back (its
worker died on it) comes apart into single tasks.

A first attempt is claimed RUNNING only once it reports progress or runs past `claim_after_seconds`
(tasklane/claims.py): most tasks end sooner, and skip the claim's two requests.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pydantic import ValidationError

from tasklane.attempts import OutcomeKind
from tasklane.claims import TaskClaim
from tasklane.consumer import QueueConsumer
from tasklane.deliveries import Delivery, DeliveryHandler, RetryScheduled
from tasklane.models import TaskBundle, TaskMessage, tasks_of
from workers.acknowledgements import Acknowledgements
from workers.heartbeat import Heartbeat
from workers.metrics import Counter, Metrics
from workers.poller import Poller
from workers.progress import ProgressStore, TaskCancelled, task_context
from workers.stop_checks import StopChecks
from workers.units import ACKNOWLEDGED_WITHOUT_COMMIT, End, Finished, Held, Unit, messages_of

log = logging.getLogger(__name__)

MAX_COMMIT_BATCH = 99  # DynamoDB takes 100 items per transaction; one is the job's counters


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


class Worker:
    def __init__(
        self,
        *,
        consumer: QueueConsumer,
        runner: DeliveryHandler,
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
        self._poller = Poller(
            consumer,
            StopChecks(runner.store.stopped_jobs, max_age_seconds=options.stop_check_seconds, clock=clock),
            wait_seconds=options.poll_wait_seconds, visibility_seconds=options.visibility_seconds, clock=clock,
        )
        self._acks = Acknowledgements(consumer, heartbeat, metrics)
        self._pending: deque[Unit] = deque()
        self._running: dict[Future[Finished], Unit] = {}
        self._finished: list[Finished] = []  # ended, waiting to be committed and acknowledged together
        self._finished_since = 0.0
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
            self._acks.hand_back(messages_of(held))
            raise
        finally:
            self._ready = False
            self._poller.shutdown()
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _drain(self) -> ExitCode:
        log.info("draining", extra={"running": len(self._running), "unstarted": len(self._pending)})
        self._give_up_pending()
        deadline = self._clock() + self._options.drain_seconds
        # An outstanding long poll is waited for too (at most its wait time), so that what it brings
        # back is handed back at once instead of staying hidden for a whole visibility timeout.
        while (self._running or self._poller.in_flight) and not self._forced and self._clock() < deadline:
            self._step(polling=False)
        self._flush(force=True)
        if not self._running:
            log.info("drained")
            return ExitCode.FORCED if self._forced else ExitCode.DRAINED
        # The process is about to end these threads: let another worker start their tasks now.
        self._acks.hand_back(messages_of(list(self._running.values())))
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
        if self._poller.in_flight is not None:
            waiting.append(self._poller.in_flight)
        if waiting:
            wait(waiting, timeout=timeout, return_when=FIRST_COMPLETED)
        else:
            time.sleep(timeout)

    # --- receiving --------------------------------------------------------------------------------------

    def _maybe_poll(self) -> None:
        self._poller.start(self._options.concurrency + self._options.prefetch - len(self._running) - len(self._pending))

    def _collect_poll(self) -> None:
        received = self._poller.collect()
        if received is None:
            return
        self._metrics.observe_poll(received.seconds)
        if self._stopping:
            self._acks.hand_back([m.delivery for m in received.messages])
            return
        now = self._clock()
        for read in received.messages:
            delivery, body = read.delivery, read.body
            if isinstance(body, ValidationError):
                self._acks.left_for_redrive(delivery, str(body.errors()[:3]))
                continue
            if isinstance(body, TaskBundle) and delivery.attempt > 1:
                self._split(delivery, body.tasks)
                continue
            tasks = tasks_of(body)
            # The visibility timer started after the request did: counting from then is conservative.
            held = self._acks.hold(
                Held(delivery, len(tasks), isinstance(body, TaskBundle), received.stopping_jobs), received.started_at
            )
            self._pending.extend(Unit(held, message, now) for message in tasks)

    def _split(self, delivery: Delivery, tasks: list[TaskMessage]) -> None:
        """A bundle that came back: its worker died on it. Its tasks go on alone, then it is deleted."""
        try:
            self._runner.split(delivery, tasks)
        except Exception:
            log.exception("could not split a bundle that came back; it returns after its visibility timeout")
            return
        self._acks.delete([delivery])

    def _give_up_pending(self) -> None:
        """On a stop: unstarted bundled tasks are sent on alone, unstarted single ones handed back."""
        units, self._pending = list(self._pending), deque()
        bundled = [u for u in units if u.held.bundled]
        self._send_on(bundled)
        singles = [u for u in units if not u.held.bundled]
        for unit in singles:
            unit.held.open -= 1
        self._acks.hand_back(u.held.delivery for u in singles)

    def _hand_off_waiting(self) -> None:
        """Bundled tasks that waited too long for a slot go on alone, for whichever worker is free."""
        if len(self._running) < self._options.concurrency:
            return
        limit = self._clock() - self._options.handoff_seconds
        waiting = [u for u in self._pending if u.held.bundled and u.queued_at <= limit]
        if waiting:
            self._pending = deque(u for u in self._pending if u not in waiting)
            self._send_on(waiting)

    def _send_on(self, units: list[Unit]) -> None:
        finished: list[Finished] = []
        for unit in units:
            try:
                self._runner.send_on(unit.held.delivery, unit.message)
                finished.append(Finished(unit, End.SENT_ON))
            except Exception:
                log.exception("could not send a task on", extra={"task_id": unit.message.task_id})
                finished.append(Finished(unit, End.ERROR))
        self._acks.account(finished, acknowledged=[f for f in finished if f.end is End.SENT_ON])

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

    def _execute(self, unit: Unit) -> Finished:
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
            return Finished(unit, End.SENT_ON if bundled else End.RETRY)
        except TaskCancelled:
            return Finished(unit, End.ABANDONED)
        except Exception:
            log.exception("attempt could not run", extra={"message_id": delivery.message_id})
            return Finished(unit, End.ERROR)
        if outcome is None:
            return Finished(unit, End.NOTHING)
        return Finished(unit, End.COMMIT, outcome)

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
        finished: list[Finished] = []
        for future in done:
            unit = self._running.pop(future)
            error = future.exception()  # only a BaseException from task code gets past _execute
            finished.append(Finished(unit, End.ERROR) if error else future.result())
        self._metrics.inc(Counter.DISCARDED, sum(f.end in (End.NOTHING, End.ABANDONED) for f in finished))
        self._metrics.inc(Counter.RETRIED, sum(f.end in (End.RETRY, End.SENT_ON) for f in finished))
        self._metrics.inc(Counter.ERRORS, sum(f.end is End.ERROR for f in finished))
        if not self._finished:
            self._finished_since = self._clock()
        self._finished += finished

    def _flush(self, *, force: bool = False) -> None:
        """Commit what finished and acknowledge its messages, once the linger is over or nothing else is in hand."""
        if not self._finished:
            return
        # A receive answered within the linger brings company; one still out after it is a long poll waiting.
        linger = self._options.commit_linger_seconds
        receiving = self._poller.issued_within(linger)
        busy = self._running or self._pending or receiving
        lingering = self._clock() - self._finished_since < linger
        if busy and lingering and not force and len(self._finished) < MAX_COMMIT_BATCH:
            return
        finished, self._finished = self._finished, []
        acknowledged = [f for f in finished if f.end in ACKNOWLEDGED_WITHOUT_COMMIT]
        acknowledged += self._commit([f for f in finished if f.end is End.COMMIT])
        self._acks.account(finished, acknowledged)

    def _commit(self, finished: list[Finished]) -> list[Finished]:
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
