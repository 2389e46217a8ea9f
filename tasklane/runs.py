"""Running a finished job's FAILED tasks again (retry, dead-letter redrive) as a new run of the same job.

Each run has its own workflow execution; its dispatch step reopens the chosen tasks (FAILED -> PENDING,
with the job's counters in the same transaction) and sends them. A reopened task keeps its attempt
history: its attempts continue from where the last run stopped, with a fresh budget of max_attempts.
"""

from __future__ import annotations

from typing import Any

from tasklane.errors import JobConflict
from tasklane.models import Job, JobStatus, execution_name
from tasklane.ports import JobStore, WorkflowStarter


def retry_failed(job: Job, by: str, store: JobStore, workflow: WorkflowStarter) -> Job:
    if not job.status.is_final:
        raise JobConflict(f"job {job.job_id} is still {job.status.value}; retry it once it ends")
    if job.status in (JobStatus.CANCELLED, JobStatus.TIMED_OUT):
        # Its cancelled tasks would stay cancelled; a stopped job is submitted again, not retried.
        raise JobConflict(f"job {job.job_id} ended {job.status.value}; submit it again instead")
    if job.failed == 0:
        raise JobConflict(f"job {job.job_id} has no FAILED task to retry")
    return start_run(job, task_ids=None, payload=None, by=by, store=store, workflow=workflow)


def start_run(
    job: Job,
    *,
    task_ids: list[str] | None,
    payload: dict[str, Any] | None,
    by: str,
    store: JobStore,
    workflow: WorkflowStarter,
) -> Job:
    run = job.run + 1
    opened = store.begin_run(job.job_id, run)
    if opened is None:
        raise JobConflict(f"job {job.job_id} changed while starting run {run}; ask again")
    workflow.start(
        execution_name(job.job_id, run),
        {"job_id": job.job_id, "run": run, "rerun": {"task_ids": task_ids, "payload": payload, "by": by}},
    )
    return opened
