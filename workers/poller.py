"""The worker's long poll, on a thread of its own, so that a 20 s wait never delays a commit, a heartbeat or
a shutdown. Each receive also reads every body once and asks which of their jobs are asked to stop."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from pydantic import ValidationError

from tasklane.backoff import Backoff
from tasklane.consumer import QueueConsumer
from tasklane.deliveries import Delivery
from tasklane.models import TaskBundle, TaskMessage, read_queue_body_or_why_not, tasks_of
from workers.stop_checks import StopChecks

log = logging.getLogger(__name__)

SQS_MAX_MESSAGES = 10
POLL_BACKOFF = Backoff(base_seconds=1.0, cap_seconds=20.0)


@dataclass(frozen=True)
class Read:
    """One received message's body: a task, a bundle, or why it is neither."""

    delivery: Delivery
    body: TaskBundle | TaskMessage | ValidationError


@dataclass(frozen=True)
class Received:
    started_at: float
    seconds: float
    messages: list[Read]
    stopping_jobs: frozenset[str]


class Poller:
    """At most one receive in flight; after a failed one, the next waits out a growing backoff."""

    def __init__(
        self,
        consumer: QueueConsumer,
        stop_checks: StopChecks,
        *,
        wait_seconds: int,
        visibility_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._stop_checks = stop_checks  # used on the poller thread only
        self._wait_seconds = wait_seconds
        self._visibility_seconds = visibility_seconds
        self._clock = clock
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="poller")
        self.in_flight: Future[Received] | None = None
        self._issued_at = 0.0
        self._failures = 0
        self._next_at = 0.0

    def start(self, room: int) -> None:
        """Receive up to `room` messages in the background, unless one receive is out or backing off."""
        if self.in_flight is not None or room <= 0 or self._clock() < self._next_at:
            return
        self.in_flight = self._thread.submit(self._receive, min(SQS_MAX_MESSAGES, room))
        self._issued_at = self._clock()

    def issued_within(self, seconds: float) -> bool:
        """A receive is out and was issued less than `seconds` ago (so it may still bring company)."""
        return self.in_flight is not None and self._clock() - self._issued_at < seconds

    def collect(self) -> Received | None:
        """What the finished receive brought; None while it is out, or when it failed (then it backs off)."""
        if self.in_flight is None or not self.in_flight.done():
            return None
        poll, self.in_flight = self.in_flight, None
        try:
            received = poll.result()
        except Exception:
            self._failures += 1
            delay = POLL_BACKOFF.ceiling(self._failures)
            log.exception("receive failed; polling again in %.1f s", delay)
            self._next_at = self._clock() + delay
            return None
        self._failures = 0
        return received

    def shutdown(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _receive(self, max_messages: int) -> Received:
        started = self._clock()
        deliveries = self._consumer.receive(
            max_messages, wait_seconds=self._wait_seconds, visibility_seconds=self._visibility_seconds
        )
        seconds = self._clock() - started
        messages = [Read(delivery, read_queue_body_or_why_not(delivery.body)) for delivery in deliveries]
        readable = [m.body for m in messages if not isinstance(m.body, ValidationError)]
        try:
            stopping = self._stop_checks.stopping(task.job_id for body in readable for task in tasks_of(body))
        except Exception:
            # Not knowing costs little: a stopping job's task is then refused at its claim or its commit.
            log.warning("could not read which jobs are stopping", exc_info=True)
            stopping = frozenset()
        return Received(started, seconds, messages, stopping)
