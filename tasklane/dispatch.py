"""Dispatching a job's tasks to the task queues, resumable after a crash at any point.

Task items are written before their messages are sent, and a cursor on the job item records both
steps, so a retried dispatch neither rewrites a task that may already have run nor skips one.
"""

from __future__ import annotations

from collections import defaultdict

from tasklane.errors import JobNotFound
from tasklane.models import Runtime, TaskMessage, TaskRecord, TaskSpec, TaskStatus, task_id_for
from tasklane.ports import JobStore, ManifestStore, TaskQueue

DISPATCH_CHUNK = 1000


def dispatch_job(
    job_id: str,
    store: JobStore,
    manifests: ManifestStore,
    queues: dict[Runtime, TaskQueue],
    now: str,
    chunk_size: int = DISPATCH_CHUNK,
) -> int:
    """Write and enqueue every task not yet sent; returns how many were sent by this call."""
    if store.get_job(job_id) is None:
        raise JobNotFound(job_id)
    spec = manifests.get(job_id)
    written, sent = store.dispatch_cursor(job_id)
    total = len(spec.tasks)
    for start in range(sent, total, chunk_size):
        end = min(total, start + chunk_size)
        indexed = list(enumerate(spec.tasks[start:end], start=start))
        if end > written:
            fresh = [(i, t) for i, t in indexed if i >= written]
            store.write_tasks(job_id, [_record(job_id, i, t, now) for i, t in fresh], written_upto=end)
        by_runtime: dict[Runtime, list[TaskMessage]] = defaultdict(list)
        for index, task in indexed:
            by_runtime[task.runtime].append(_message(job_id, index, task))
        for runtime, messages in by_runtime.items():
            queues[runtime].send(messages)
        store.mark_sent(job_id, end)
    return total - sent


def _record(job_id: str, index: int, task: TaskSpec, now: str) -> TaskRecord:
    return TaskRecord(
        job_id=job_id, task_id=task_id_for(index), index=index, type=task.type, runtime=task.runtime,
        status=TaskStatus.PENDING, payload=task.payload, created_at=now, updated_at=now,
    )


def _message(job_id: str, index: int, task: TaskSpec) -> TaskMessage:
    return TaskMessage(
        job_id=job_id, task_id=task_id_for(index), type=task.type, payload=task.payload,
        max_attempts=task.max_attempts, timeout_seconds=task.timeout_seconds,
    )
