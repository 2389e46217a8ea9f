"""Dispatching a job's tasks to the task queues, resumable after a crash at any point.

Each chunk of task items is written before its messages are sent, and cursors on the job item record
both steps, so a retried dispatch neither rewrites a task that may already have run nor skips one. A job
that asked for max_concurrency gets only its first window sent here (see tasklane/flow.py). A payload too
large for a queue message is stored beside the manifest and travels by reference.
"""

from __future__ import annotations

import json
from typing import Any

from tasklane.errors import JobNotFound
from tasklane.flow import send_records
from tasklane.models import JobSpec, Runtime, TaskRecord, TaskSpec, TaskStatus, task_id_for
from tasklane.ports import JobStore, ManifestStore, TaskQueue

DISPATCH_CHUNK = 1000
# Well under SQS's message limit and DynamoDB's item limit, with room for the rest of the message.
PAYLOAD_INLINE_BYTES = 64 * 1024


def payload_key(job_id: str, task_id: str) -> str:
    return f"payloads/{job_id}/{task_id}.json"


def payload_too_large(payload: dict[str, Any]) -> bool:
    """Too large to travel in a queue message or a workflow's input: it is stored in S3 and sent by reference."""
    return len(json.dumps(payload).encode()) > PAYLOAD_INLINE_BYTES


def dispatch_job(
    job_id: str,
    store: JobStore,
    manifests: ManifestStore,
    queues: dict[Runtime, TaskQueue],
    now: str,
    chunk_size: int = DISPATCH_CHUNK,
) -> int:
    """Write every task, then send those this job may have in flight; returns how many this call sent."""
    job = store.get_job(job_id)
    if job is None:
        raise JobNotFound(job_id)
    if job.stop_reason is not None:
        return 0
    spec = manifests.get(job_id)
    written, sent = store.dispatch_cursor(job_id)
    total = len(spec.tasks)

    def write(records: list[TaskRecord], upto: int) -> None:
        """Store the task items not written yet; a payload stored by reference goes to S3 first."""
        nonlocal written
        fresh = [r for r in records if r.index >= written]
        for record in fresh:
            if record.payload_ref:
                manifests.put_payload(job_id, record.task_id, spec.tasks[record.index].payload)
        if fresh:
            store.write_tasks(job_id, fresh, written_upto=upto)
            written = upto

    if job.max_concurrency:
        write(_records(job_id, spec, written, total, now), total)
        window = store.claim_window(job_id, job.max_concurrency) if sent == 0 else range(0, sent)
        pending = [r for r in store.tasks_between(job_id, window.start, window.stop) if r.status is TaskStatus.PENDING]
        return send_records(pending, job.tenant, True, queues)
    count = 0
    # Chunk by chunk, written before sent: the first tasks run while the rest are still being written.
    for start in range(sent, total, chunk_size):
        if start > sent and _stopping(job_id, store):
            break  # a cancel or timeout stops dispatch at once; the stop step cancels what was written
        end = min(total, start + chunk_size)
        chunk = _records(job_id, spec, start, end, now)
        write(chunk, end)
        count += send_records(chunk, job.tenant, False, queues)
        store.mark_sent(job_id, end)
    return count


def dispatch_rerun(
    job_id: str,
    run: int,
    task_ids: list[str] | None,
    payload: dict[str, Any] | None,
    by: str,
    store: JobStore,
    queues: dict[Runtime, TaskQueue],
    payload_ref: str | None = None,
) -> int:
    """Reopen the run's FAILED tasks and send every task of the run still PENDING (again, after a crash).

    A new payload comes inline or, when large, as `payload_ref`: the S3 key the run's start stored it at.
    """
    job = store.get_job(job_id)
    if job is None:
        raise JobNotFound(job_id)
    store.reopen_tasks(job_id, run, task_ids, payload, by, payload_ref=payload_ref)
    pending = [t for t in store.live_tasks(job_id) if t.run == run and t.status is TaskStatus.PENDING]
    return send_records(pending, job.tenant, False, queues)


def _stopping(job_id: str, store: JobStore) -> bool:
    return bool(store.stopped_jobs([job_id]))


def _records(job_id: str, spec: JobSpec, start: int, end: int, now: str) -> list[TaskRecord]:
    return [_record(job_id, index, spec.tasks[index], now) for index in range(start, end)]


def _record(job_id: str, index: int, task: TaskSpec, now: str) -> TaskRecord:
    task_id = task_id_for(index)
    large = payload_too_large(task.payload)
    return TaskRecord(
        job_id=job_id, task_id=task_id, index=index, type=task.type, runtime=task.runtime,
        status=TaskStatus.PENDING, payload={} if large else task.payload,
        payload_ref=payload_key(job_id, task_id) if large else None,
        max_attempts=task.max_attempts, timeout_seconds=task.timeout_seconds, created_at=now, updated_at=now,
    )
