"""Claiming a long task RUNNING: once, from whichever side asks first, and never after its attempt ended.

A claim costs a DynamoDB transaction and a read, which a task done in a few milliseconds does not
need: nobody would ever see it RUNNING. So a first attempt is claimed only when it reports progress or
has run for a while; it commits from PENDING when it ends first. A redelivered task is claimed before
it starts (`eager`), so that a task already final, or held by a live attempt, is not run again.
"""

from __future__ import annotations

import threading

from tasklane.models import TaskMessage
from tasklane.ports import JobStore


class TaskClaim:
    def __init__(self, store: JobStore, message: TaskMessage, attempt: int, *, eager: bool) -> None:
        self._store = store
        self._message = message
        self._attempt = attempt
        self.eager = eager
        self._lock = threading.Lock()
        self._held: bool | None = None  # None: not asked for yet
        self._closed = False

    def take(self) -> bool:
        """Mark the task RUNNING for this attempt (once); False when the attempt does not own the task.

        False too once the attempt has ended: its outcome then commits from PENDING, as it was.
        """
        with self._lock:
            if self._held is None and not self._closed:
                self._held = self._store.mark_running(self._message, self._attempt)
            return bool(self._held) and not self._closed

    @property
    def asked(self) -> bool:
        with self._lock:
            return self._held is not None or self._closed

    def close(self) -> bool:
        """End the attempt's claim: returns whether the task is RUNNING under it, so its outcome commits from there."""
        with self._lock:
            self._closed = True
            return bool(self._held)
