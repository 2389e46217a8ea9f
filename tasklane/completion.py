"""Recording task outcomes exactly once and resuming a job's workflow when its last task ends."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

from tasklane.attempts import TaskOutcome
from tasklane.ports import CommitResult, JobStore, WorkflowResumer

log = logging.getLogger(__name__)


def record_outcomes(outcomes: Iterable[TaskOutcome], store: JobStore, workflow: WorkflowResumer) -> CommitResult:
    """Commit outcomes job by job; counters move only with the task transitions the store accepts."""
    by_job: dict[str, list[TaskOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_job[outcome.job_id].append(outcome)
    report = CommitResult()
    for job_id, job_outcomes in by_job.items():
        committed = store.record_outcomes(job_id, job_outcomes)
        report.applied += committed.applied
        report.stale += committed.stale
        if committed.stale:
            log.info("ignored %d stale outcomes for job %s", len(committed.stale), job_id)
        if committed.finished_job:
            report.finished_job = True
            resume_job(job_id, store, workflow)
    return report


def resume_job(job_id: str, store: JobStore, workflow: WorkflowResumer) -> bool:
    """Resume the job's waiting execution; of all callers, exactly one wins the claim and sends it."""
    token = store.claim_resume(job_id)
    if token is None:
        return False
    workflow.resume(token, {"job_id": job_id})
    return True
