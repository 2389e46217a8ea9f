"""Job changes from the job table's stream records (NEW_AND_OLD_IMAGES)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasklane.aws.dynamo_items import COUNT_SK, JOB_SK
from tasklane.live import JobChange
from tasklane.models import Job

# A job's head (status, stop) and its counter shards (progress) are what its dashboard shows.
CHANGING_SORT_KEYS = (JOB_SK, COUNT_SK)


def job_changes(records: list[dict[str, Any]], read_job: Callable[[str], Job | None]) -> list[JobChange]:
    """One change per job written (inserted or modified) in a batch, read whole once, with the batch's newest
    sequence of that job; task items and removals are not changes of status (the event source mapping's
    filter already keeps them out in AWS). A job is spread over several items (its head and a counter per
    shard), so it is read again rather than rebuilt from one image: one read per job per batch."""
    newest: dict[str, str] = {}
    for record in records:
        stream = record.get("dynamodb") or {}
        keys = stream.get("Keys") or {}
        if record.get("eventName") not in ("INSERT", "MODIFY") or not stream.get("NewImage"):
            continue
        if keys.get("sk", {}).get("S") not in CHANGING_SORT_KEYS:
            continue
        pk = keys.get("pk", {}).get("S", "")
        job_id = pk.removeprefix("JOB#")
        if keys["sk"]["S"] == COUNT_SK:
            job_id = job_id.rpartition("#")[0]  # JOB#<id>#<shard>
        newest[job_id] = str(stream.get("SequenceNumber", "0"))
    changes = []
    for job_id, sequence in newest.items():
        job = read_job(job_id)
        if job is not None:
            changes.append(JobChange(job=job, stream_sequence=sequence))
    return changes
