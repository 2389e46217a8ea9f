"""A job's watchdog: times the job out at its deadline and heals a windowed job that stalled.

It is a message on the control queue, delayed until the next check is due (SQS delays by at most 15
minutes, so a far deadline is reached in several hops). It costs a few requests per job per hour and
needs no scheduler.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from tasklane.errors import JobConflict
from tasklane.flow import resend_unattempted
from tasklane.models import Job, Runtime, StopReason
from tasklane.ports import JobStore, TaskQueue, WorkflowResumer
from tasklane.stopping import stop_job

STALL_SECONDS = 60.0
MAX_DELAY_SECONDS = 900


class WatchRequest(BaseModel):
    job_id: str
    run: int = 0
    deadline: float | None = None  # seconds since the epoch


class ControlQueue(Protocol):
    def schedule(self, request: WatchRequest, delay_seconds: int) -> None: ...


def first_watch(job: Job, now: float) -> tuple[WatchRequest, int] | None:
    """The watch a job needs when its run starts: none unless it has a timeout or a window."""
    if not job.timeout_seconds and not job.max_concurrency:
        return None
    deadline = now + job.timeout_seconds if job.timeout_seconds else None
    request = WatchRequest(job_id=job.job_id, run=job.run, deadline=deadline)
    return request, _delay(job, deadline, now)


def watch(
    request: WatchRequest,
    store: JobStore,
    workflow: WorkflowResumer,
    queues: dict[Runtime, TaskQueue],
    now: float,
) -> int | None:
    """Do what is due; returns the delay until the next check, or None when the job needs no more."""
    job = store.get_job(request.job_id)
    if job is None or job.status.is_final or job.run != request.run or job.stop_reason is not None:
        return None
    if request.deadline is not None and now >= request.deadline:
        with contextlib.suppress(JobConflict):  # it ended on its own meanwhile
            stop_job(job, StopReason.TIMED_OUT, store, workflow)
        return None
    if job.max_concurrency and _stalled(job, now):
        resend_unattempted(job, store, queues)
    return _delay(job, request.deadline, now)


def _delay(job: Job, deadline: float | None, now: float) -> int:
    delays = [MAX_DELAY_SECONDS]
    if job.max_concurrency:
        delays.append(int(STALL_SECONDS))
    if deadline is not None:
        delays.append(max(0, int(deadline - now + 0.999)))
    return min(delays)


def _stalled(job: Job, now: float) -> bool:
    updated = datetime.fromisoformat(job.updated_at.replace("Z", "+00:00")).timestamp()
    return now - updated > STALL_SECONDS
