"""Stopping a live job, for a cancel request or a timeout.

The request is recorded on the job first, so dispatch stops and no runner starts another of its tasks;
then the waiting workflow is interrupted, and its next step cancels every task still PENDING or RUNNING
with the same exact-once transitions as any other outcome. A running long task finds out at its next
heartbeat, which no longer lands.
"""

from __future__ import annotations

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.completion import record_outcomes
from tasklane.errors import JobConflict, JobNotFound
from tasklane.jobs import finalize_job
from tasklane.models import Job, JobStatus, StopReason, TaskStatus
from tasklane.ports import JobStore, WorkflowResumer

STOP_ERROR = "JobStopped"
CANCEL_CHUNK = 500
# A job's error is shown in the API; the whole traceback stays in the workflow's history.
MAX_JOB_ERROR_CHARS = 1000


def stop_job(job: Job, reason: StopReason, store: JobStore, workflow: WorkflowResumer) -> Job:
    """Record the stop and interrupt the workflow; stopping a job that is already stopping is a no-op."""
    if job.status.is_final:
        raise JobConflict(f"job {job.job_id} already ended {job.status.value}")
    stopped = store.request_stop(job.job_id, reason)
    if stopped is None:
        current = store.get_job(job.job_id)
        if current is None:
            raise JobNotFound(job.job_id)
        if current.status.is_final:
            raise JobConflict(f"job {job.job_id} already ended {current.status.value}")
        return current
    interrupt_wait(job.job_id, reason, store, workflow)
    return stopped


def interrupt_wait(job_id: str, reason: StopReason, store: JobStore, workflow: WorkflowResumer) -> bool:
    """Interrupt the waiting execution, if it waits already; otherwise its wait step interrupts itself."""
    token = store.claim_resume(job_id, require_done=False)
    if token is None:
        return False
    workflow.interrupt(token, STOP_ERROR, reason.value)
    return True


def cancel_remaining_tasks(job_id: str, store: JobStore, workflow: WorkflowResumer) -> int:
    """Cancel every task still PENDING or RUNNING, or never written; returns how many this call cancelled."""
    cancelled = store.cancel_unwritten(job_id)
    batch: list[TaskOutcome] = []
    for task in store.live_tasks(job_id):
        batch.append(
            TaskOutcome(
                job_id=job_id, task_id=task.task_id, attempt=None, kind=OutcomeKind.CANCELLED,
                from_running=task.status is TaskStatus.RUNNING, task_type=task.type,
            )
        )
        if len(batch) >= CANCEL_CHUNK:
            cancelled += len(record_outcomes(batch, store, workflow).applied)
            batch = []
    if batch:
        cancelled += len(record_outcomes(batch, store, workflow).applied)
    return cancelled


def fail_job(job_id: str, error: str, store: JobStore, workflow: WorkflowResumer) -> Job:
    """End a job whose workflow cannot go on (a step failed for good): its live tasks are cancelled and it
    ends FAILED with the error, or, when a cancel or timeout came first, with the status that stop earns."""
    cancel_remaining_tasks(job_id, store, workflow)
    job = store.get_job(job_id)
    if job is None:
        raise JobNotFound(job_id)
    if job.stop_reason is not None:
        return finalize_job(job_id, store)
    store.set_job_status(
        job_id, JobStatus.FAILED, only_from=(JobStatus.PENDING, JobStatus.RUNNING), error=error[:MAX_JOB_ERROR_CHARS]
    )
    return store.get_job(job_id) or job
