"""Flow control for jobs with max_concurrency: a finished task lets the next one be sent.

Dispatch sends the first max_concurrency tasks; every final outcome of a windowed job claims the next
indexes from the job's `sent` counter (an atomic ADD) and sends those tasks. A claim whose send was lost
(a crash in between) is healed by the job's watchdog, which resends the job's unattempted tasks when
the job has made no progress for a while.
"""

from __future__ import annotations

from collections import defaultdict

from tasklane.models import Job, Runtime, TaskMessage, TaskRecord, TaskStatus
from tasklane.ports import JobStore, TaskQueue


def message_for(record: TaskRecord, tenant: str, windowed: bool) -> TaskMessage:
    return TaskMessage(
        job_id=record.job_id, task_id=record.task_id, tenant=tenant, type=record.type, payload=record.payload,
        payload_ref=record.payload_ref, max_attempts=record.max_attempts, timeout_seconds=record.timeout_seconds,
        attempt_offset=record.attempts, windowed=windowed,
    )


def send_records(records: list[TaskRecord], tenant: str, windowed: bool, queues: dict[Runtime, TaskQueue]) -> int:
    by_runtime: dict[Runtime, list[TaskMessage]] = defaultdict(list)
    for record in records:
        by_runtime[record.runtime].append(message_for(record, tenant, windowed))
    for runtime, messages in by_runtime.items():
        queues[runtime].send(messages)
    return len(records)


def release(job_id: str, tenant: str, finished: int, store: JobStore, queues: dict[Runtime, TaskQueue]) -> int:
    """Send as many of the job's unsent tasks as tasks just finished; returns how many were sent."""
    if store.stopped_jobs([job_id]):
        return 0  # a stopping job sends nothing more; its stop step cancels what was never sent
    window = store.claim_window(job_id, finished)
    if not window:
        return 0
    records = [r for r in store.tasks_between(job_id, window.start, window.stop) if r.status is TaskStatus.PENDING]
    return send_records(records, tenant, True, queues)


def resend_unattempted(job: Job, store: JobStore, queues: dict[Runtime, TaskQueue]) -> int:
    """Heal a stalled windowed job: resend claimed tasks never attempted (duplicates are refused on commit)."""
    records = [
        r for r in store.live_tasks(job.job_id)
        if r.status is TaskStatus.PENDING and r.attempts == 0 and r.index < job.sent
    ]
    return send_records(records, job.tenant, True, queues)
