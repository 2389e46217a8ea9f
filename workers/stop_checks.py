"""Which jobs are asked to stop, read at most once a second per job rather than once per receive.

A consistent read per receive would double the requests of a worker taking ten tasks at a time. A job
asked to stop within the last second may still have a task started; its claim or its commit refuses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

# Reads (job ids -> those asked to stop), e.g. JobStore.stopped_jobs.
StoppedJobs = Callable[[list[str]], set[str]]
FORGET_AFTER_SECONDS = 300.0


class StopChecks:
    def __init__(
        self, read: StoppedJobs, *, max_age_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._read = read
        self._max_age = max_age_seconds
        self._clock = clock
        self._known: dict[str, tuple[float, bool]] = {}  # job id -> when read, whether it was stopping

    def stopping(self, job_ids: Iterable[str]) -> frozenset[str]:
        """Those of `job_ids` asked to stop, as read within the last `max_age_seconds`; raises when the read fails."""
        wanted = sorted(set(job_ids))
        now = self._clock()
        stale = [job for job in wanted if now - self._known.get(job, (-float("inf"), False))[0] >= self._max_age]
        if stale:
            stopped = self._read(stale)
            self._known.update({job: (now, job in stopped) for job in stale})
            self._forget(now)
        return frozenset(job for job in wanted if self._known[job][1])

    def _forget(self, now: float) -> None:
        for job in [job for job, (read_at, _) in self._known.items() if now - read_at > FORGET_AFTER_SECONDS]:
            del self._known[job]
