"""Redriving dead letters: the chosen dead tasks of each finished job run again, as a new run of it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tasklane.dead_letters import DeadLetter
from tasklane.errors import InvalidRequest, JobConflict, WorkflowNotStarted
from tasklane.ports import JobStore, ManifestStore, WorkflowStarter
from tasklane.reruns import start_run

MAX_DEAD_LETTERS_READ = 10_000


@dataclass(frozen=True)
class Selection:
    job_id: str | None = None
    fingerprint: str | None = None
    task_ids: list[str] | None = None

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (self.job_id is None or letter.job_id == self.job_id)
            and (self.fingerprint is None or letter.fingerprint == self.fingerprint)
            and (self.task_ids is None or letter.task_id in self.task_ids)
        )


@dataclass
class RedriveReport:
    redriven: int = 0
    runs: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (job id, task id, why)


def redrive(
    tenant: str,
    selection: Selection,
    payload: dict[str, Any] | None,
    by: str,
    store: JobStore,
    workflow: WorkflowStarter,
    manifests: ManifestStore | None = None,
) -> RedriveReport:
    """Open a run of each chosen job for its chosen dead tasks; a `payload` replaces theirs (stored in S3 when
    large). A job whose run cannot open or start is skipped, with why, and left as it was."""
    if selection == Selection():
        raise InvalidRequest("choose what to redrive: job_id, fingerprint or task_ids (with job_id)")
    if selection.task_ids is not None and selection.job_id is None:
        raise InvalidRequest("task_ids name tasks of one job: give job_id too")
    chosen = [d for d in store.dead_letters(tenant, limit=MAX_DEAD_LETTERS_READ) if selection.matches(d)]
    report = RedriveReport()
    by_job: dict[str, list[DeadLetter]] = defaultdict(list)
    for letter in chosen:
        if letter.job_id == "unknown" or letter.task_type == "unknown":
            report.skipped.append((letter.job_id, letter.task_id, "the message was not a task: nothing to run"))
        else:
            by_job[letter.job_id].append(letter)
    for job_id, letters in by_job.items():
        job = store.get_job(job_id)
        task_ids = sorted({d.task_id for d in letters})
        if job is None or job.tenant != tenant:
            report.skipped += [(job_id, t, "the job no longer exists") for t in task_ids]
            continue
        if not job.status.is_final:
            why = f"the job is still {job.status.value}; redrive once it ends"
            report.skipped += [(job_id, t, why) for t in task_ids]
            continue
        try:
            opened = start_run(
                job, task_ids=task_ids, payload=payload, by=by, store=store, workflow=workflow, manifests=manifests
            )
        except (JobConflict, WorkflowNotStarted) as conflict:
            report.skipped += [(job_id, t, str(conflict)) for t in task_ids]
            continue
        report.runs[job_id] = opened.run
        report.redriven += len(task_ids)
    return report
