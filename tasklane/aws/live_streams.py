"""Job changes from the job table's stream records (NEW_AND_OLD_IMAGES)."""

from __future__ import annotations

from typing import Any

from tasklane.aws.dynamo_items import JOB_SK, job_from_item
from tasklane.live import JobChange


def job_changes(records: list[dict[str, Any]]) -> list[JobChange]:
    """The job items written (inserted or modified) in a batch; task items and removals are not changes of
    status (the event source mapping's filter already keeps them out in AWS)."""
    changes = []
    for record in records:
        stream = record.get("dynamodb") or {}
        image = stream.get("NewImage")
        if record.get("eventName") not in ("INSERT", "MODIFY") or not image:
            continue
        if image.get("sk", {}).get("S") != JOB_SK or "job_id" not in image:
            continue
        changes.append(JobChange(job=job_from_item(image), stream_sequence=str(stream.get("SequenceNumber", "0"))))
    return changes
