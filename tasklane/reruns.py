"""Running a finished job's FAILED tasks again (retry, dead-letter redrive) as a new run of the same job.

Each run has its own workflow execution; its dispatch step reopens the chosen tasks (FAILED -> PENDING,
with the job's counters in the same transaction) and sends them. A reopened task keeps its attempt
history: its attempts continue from where the last run stopped, with a fresh budget of max_attempts.
"""

from __future__ import annotations

from typing import Any

from tasklane.dispatch import payload_key, payload_too_large
from tasklane.errors import InvalidRequest, JobConflict, WorkflowNotStarted
from tasklane.models import Job, JobStatus, execution_name
from tasklane.ports import JobStore, ManifestStore, WorkflowStarter


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
    manifests: ManifestStore | None = None,
) -> Job:
    """Open run n + 1 and start its execution. A payload too large to travel inline is stored first, like
    any large payload, so the execution's input stays small; a start that fails leaves the job as it was."""
    run = job.run + 1
    payload_ref = None
    if payload is not None and payload_too_large(payload):
        if manifests is None:
            raise InvalidRequest("this payload is too large to send along; it needs a store")
        payload_ref = payload_key(job.job_id, f"run{run}")
        manifests.put_payload(job.job_id, f"run{run}", payload)
        payload = None
    opened = store.begin_run(job.job_id, run)
    if opened is None:
        raise JobConflict(f"job {job.job_id} changed while starting run {run}; ask again")
    rerun = {"task_ids": task_ids, "payload": payload, "payload_ref": payload_ref, "by": by}
    try:
        workflow.start(execution_name(job.job_id, run), {"job_id": job.job_id, "run": run, "rerun": rerun})
    except Exception as exc:
        store.set_job_status(job.job_id, job.status, only_from=(JobStatus.PENDING,))
        raise WorkflowNotStarted(
            f"run {run} of job {job.job_id} could not start ({type(exc).__name__}); the job is {job.status.value} "
            "as before: ask again"
        ) from exc
    return opened
