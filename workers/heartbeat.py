"""Keeping held messages invisible while their tasks run (and while prefetched ones wait for a slot).

Every message the worker holds is re-hidden for the full visibility timeout once `interval_seconds`
have passed since it was received or last extended, so the margin (visibility minus interval) absorbs
a slow loop or a slow call. Extensions due together go out as ChangeMessageVisibilityBatch calls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from tasklane.consumer import QueueConsumer
from tasklane.ports import RetryScheduler

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        consumer: QueueConsumer,
        *,
        visibility_seconds: int,
        interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < interval_seconds < visibility_seconds:
            raise ValueError("the heartbeat interval must be positive and shorter than the visibility timeout")
        self._consumer = consumer
        self.visibility_seconds = visibility_seconds
        self.interval_seconds = interval_seconds
        self._clock = clock
        self._due: dict[str, float] = {}  # receipt handle -> when its next extension is due
        # Held across each extension call so that a retry's own visibility change always lands last.
        self._lock = threading.Lock()

    def track(self, receipt_handle: str, received_at: float) -> None:
        """Start extending a message; `received_at` is no later than when its visibility timer started."""
        with self._lock:
            self._due[receipt_handle] = received_at + self.interval_seconds

    def release(self, receipt_handle: str) -> None:
        with self._lock:
            self._due.pop(receipt_handle, None)

    def tracked(self) -> list[str]:
        with self._lock:
            return list(self._due)

    def next_due(self) -> float | None:
        with self._lock:
            return min(self._due.values(), default=None)

    def beat(self) -> list[str]:
        """Extend every message that is due, in batches; returns the handles sent."""
        with self._lock:
            now = self._clock()
            due = [handle for handle, at in self._due.items() if at <= now]
            if not due:
                return []
            try:
                failures = self._consumer.change_visibility(due, self.visibility_seconds)
            except Exception:
                # Still due: the next tick tries again, well inside the margin.
                log.exception("could not extend the visibility of %d messages", len(due))
                return []
            for handle in due:
                self._due[handle] = now + self.interval_seconds
        for failure in failures:
            # Usually the message's visibility lapsed and it was received again: the task record now
            # belongs to a newer attempt, and this attempt learns so at its next progress report.
            log.warning("visibility extension refused", extra={"code": failure.code, "reason": failure.message})
        return due

    def guard(self, retries: RetryScheduler) -> RetryScheduler:
        """Wrap the runner's retry scheduler so that no extension can overwrite a retry's backoff delay."""
        return _StopExtendingOnRetry(self, retries)


class _StopExtendingOnRetry:
    def __init__(self, heartbeat: Heartbeat, inner: RetryScheduler) -> None:
        self._heartbeat = heartbeat
        self._inner = inner

    def retry_later(self, receipt_handle: str, delay_seconds: float) -> None:
        heartbeat = self._heartbeat
        with heartbeat._lock:
            heartbeat._due.pop(receipt_handle, None)
            self._inner.retry_later(receipt_handle, delay_seconds)
