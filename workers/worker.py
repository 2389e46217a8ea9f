"""The long-task worker loop: poll, run with bounded concurrency, heartbeat, commit, acknowledge, drain.

All queue and task state belongs to the loop's thread. Only blocking work is handed out: the long poll
to one poller thread (so a 20 s wait never delays a commit, a heartbeat or a shutdown) and tasks to a
pool of `concurrency` threads. The loop wakes when either finishes, or every `tick_seconds`.

Acknowledgement rules: a message is deleted once its final outcome is committed, and also when there
is nothing to record (a duplicate delivery, a stale outcome, an abandoned attempt). A retry keeps its
message, hidden by the runner for the backoff delay. A body that is not a task, or an attempt that
failed for the worker's own reasons, is left alone: SQS redelivers it after the visibility timeout and
its redrive policy dead-letters it in the end.
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
from tasklane.consumer import QueueConsumer
from tasklane.execution import OutcomeKind, TaskOutcome
from tasklane.models import TaskMessage
from tasklane.running import Delivery, RetryScheduled, TaskRunner
from workers.heartbeat import Heartbeat
from workers.metrics import Counter, Metrics
from workers.progress import ProgressStore, TaskCancelled, WorkerTaskContext, task_context

log = logging.getLogger(__name__)

SQS_MAX_MESSAGES = 10
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


class _End(StrEnum):
    COMMIT = "commit"  # a final outcome to commit, then delete
    NOTHING = "nothing"  # duplicate or stale: delete
    ABANDONED = "abandoned"  # the attempt stopped on TaskCancelled: delete
    RETRY = "retry"  # the runner hid the message for the backoff delay: keep
    INVALID = "invalid"  # not a task: keep, for the redrive policy
    ERROR = "error"  # the worker could not run it: keep, SQS redelivers it


@dataclass(frozen=True)
class _Finished:
    delivery: Delivery
    end: _End
    outcome: TaskOutcome | None = None


@dataclass(frozen=True)
class _Received:
    started_at: float
    seconds: float
    deliveries: list[Delivery]


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
        self._pending: deque[Delivery] = deque()
        self._running: dict[Future[_Finished], Delivery] = {}
        self._poll: Future[_Received] | None = None
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
            self._hand_back([*self._pending, *self._running.values()])
            raise
        finally:
            self._ready = False
            self._poller.shutdown(wait=False, cancel_futures=True)
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _drain(self) -> ExitCode:
        log.info("draining", extra={"running": len(self._running), "unstarted": len(self._pending)})
        self._hand_back(self._pending)
        self._pending.clear()
        deadline = self._clock() + self._options.drain_seconds
        # An outstanding long poll is waited for too (at most its wait time), so that what it brings
        # back is handed back at once instead of staying hidden for a whole visibility timeout.
        while (self._running or self._poll) and not self._forced and self._clock() < deadline:
            self._step(polling=False)
        if not self._running:
            log.info("drained")
            return ExitCode.FORCED if self._forced else ExitCode.DRAINED
        # The process is about to end these threads: let another worker start their tasks now.
        self._hand_back(self._running.values())
        code = ExitCode.FORCED if self._forced else ExitCode.DEADLINE
        log.warning("exiting with tasks still running", extra={"running": len(self._running), "code": int(code)})
        return code

    def _step(self, *, polling: bool) -> None:
        self._last_tick = self._clock()
        self._reap()
        self._collect_poll()
        if polling:
            self._start_pending()
            self._maybe_poll()
        self._heartbeat.beat()
        self._metrics.set_in_flight(len(self._running))
        self._wait()

    def _wait(self) -> None:
        timeout = self._options.tick_seconds
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

    def _receive(self, max_messages: int) -> _Received:
        started = self._clock()
        deliveries = self._consumer.receive(
            max_messages,
            wait_seconds=self._options.poll_wait_seconds,
            visibility_seconds=self._options.visibility_seconds,
        )
        return _Received(started, self._clock() - started, deliveries)

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
            self._hand_back(received.deliveries)
            return
        for delivery in received.deliveries:
            # The visibility timer started after the request did: counting from then is conservative.
            self._heartbeat.track(delivery.receipt_handle, received.started_at)
            self._pending.append(delivery)

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

    # --- running ----------------------------------------------------------------------------------------

    def _start_pending(self) -> None:
        while self._pending and len(self._running) < self._options.concurrency:
            delivery = self._pending.popleft()
            try:
                message = TaskMessage.model_validate_json(delivery.body)
            except ValidationError as exc:
                self._finish_unacknowledged(_Finished(delivery, _End.INVALID), str(exc.errors()[:3]))
                continue
            context = task_context(
                self._progress, message, message.attempt(delivery.attempt), self._clock,
                self._options.progress_interval_seconds,
            )
            self._running[self._pool.submit(self._execute, delivery, context)] = delivery
            self._metrics.inc(Counter.STARTED)

    def _execute(self, delivery: Delivery, context: WorkerTaskContext) -> _Finished:
        """Runs on a pool thread; never raises, so that every message is accounted for."""
        try:
            outcome = self._runner.run(delivery, claim=True, context=context)
        except RetryScheduled:
            return _Finished(delivery, _End.RETRY)
        except TaskCancelled:
            return _Finished(delivery, _End.ABANDONED)
        except ValidationError:
            return _Finished(delivery, _End.INVALID)
        except Exception:
            log.exception("attempt could not run", extra={"message_id": delivery.message_id})
            return _Finished(delivery, _End.ERROR)
        if outcome is None:
            return _Finished(delivery, _End.NOTHING)
        return _Finished(delivery, _End.COMMIT, outcome)

    def _reap(self) -> None:
        done = [future for future in self._running if future.done()]
        if not done:
            return
        finished: list[_Finished] = []
        for future in done:
            delivery = self._running.pop(future)
            self._heartbeat.release(delivery.receipt_handle)
            error = future.exception()  # only a BaseException from task code gets past _execute
            finished.append(_Finished(delivery, _End.ERROR) if error else future.result())
        acked = [f for f in finished if f.end in (_End.NOTHING, _End.ABANDONED)]
        acked += self._commit([f for f in finished if f.end is _End.COMMIT])
        self._metrics.inc(Counter.DISCARDED, sum(f.end in (_End.NOTHING, _End.ABANDONED) for f in finished))
        self._metrics.inc(Counter.RETRIED, sum(f.end is _End.RETRY for f in finished))
        for item in finished:
            if item.end in (_End.INVALID, _End.ERROR):
                self._finish_unacknowledged(item, "see the attempt's log")
        self._delete(acked)

    def _commit(self, finished: list[_Finished]) -> list[_Finished]:
        """Commit the outcomes that finished together; returns the ones safe to delete."""
        if not finished:
            return []
        try:
            report = self._runner.commit([f.outcome for f in finished if f.outcome is not None])
        except Exception:
            # Not deleted: SQS redelivers them and the next attempt commits (or finds them already final).
            log.exception("could not commit %d outcomes", len(finished))
            self._metrics.inc(Counter.ERRORS, len(finished))
            return []
        self._metrics.inc(Counter.SUCCEEDED, sum(o.kind is OutcomeKind.SUCCEEDED for o in report.applied))
        self._metrics.inc(Counter.FAILED, sum(o.kind is OutcomeKind.FAILED for o in report.applied))
        self._metrics.inc(Counter.DISCARDED, len(report.stale))
        return finished

    def _delete(self, finished: list[_Finished]) -> None:
        if not finished:
            return
        try:
            failures = self._consumer.delete([f.delivery.receipt_handle for f in finished])
        except Exception:
            # Redelivered later, found final by mark_running, and deleted then.
            log.exception("could not delete %d messages", len(finished))
            return
        for failure in failures:
            log.warning("delete refused", extra={"code": failure.code, "reason": failure.message})

    def _finish_unacknowledged(self, item: _Finished, detail: str) -> None:
        self._heartbeat.release(item.delivery.receipt_handle)
        self._metrics.inc(Counter.INVALID if item.end is _End.INVALID else Counter.ERRORS)
        if item.end is _End.INVALID:
            # It will never parse: back at once, so its receives run out and SQS dead-letters it soon.
            self._hand_back([item.delivery])
        log.warning(
            "message left for redelivery",
            extra={"message_id": item.delivery.message_id, "reason": item.end.value, "detail": detail},
        )
