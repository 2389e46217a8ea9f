"""How jobs, tasks and dead letters are laid out as items of the one DynamoDB table.

No partition key takes more than a small share of a job's writes (DynamoDB gives one key about 1,000 write
units a second). A job is split into `shards` (fixed at creation, from its size); task i belongs to shard
(i // SHARD_BLOCK) % shards, so ten consecutive tasks (one queue message) share a shard and the tasks in
flight at any moment spread over all of them:

  (JOB#<id>, JOB)          the head: status, cursors, stop, run, resume claim; small, written rarely
  (JOB#<id>, META)         metadata (up to 64 KiB) and the workflow's task token; written twice a run
  (JOB#<id>#<k>, COUNT)    shard k's counters; every commit of its tasks updates it, ~150 bytes
  (JOB#<id>#<k>, TASK#<t>) the shard's tasks

A tenant's dead letters are (DEAD#<tenant>, <fingerprint>#<job id>#<task id>). Payloads, results and
metadata are stored as JSON text, so any JSON value round-trips exactly (no Decimal conversions).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from tasklane.dead_letters import DeadLetter
from tasklane.errors import InvalidRequest
from tasklane.models import Job, JobStatus, StopReason, TaskRecord, TaskStatus

JOB_SK = "JOB"
META_SK = "META"
COUNT_SK = "COUNT"
TASK_PREFIX = "TASK#"
COUNTERS = ("total", "remaining", "running", "succeeded", "failed", "cancelled")

# A job gets one shard per TASKS_PER_SHARD tasks, up to MAX_SHARDS: a 100,000-task job spreads its task
# writes (about 3 units each) over 64 keys, under 0.05 units per task of the job on any one of them.
# get_job reads the head, the metadata and every counter in one BatchGetItem (100 keys at most), so a
# small job, read most often, stays at one shard.
TASKS_PER_SHARD = 500
MAX_SHARDS = 64
# Tasks travel ten to a queue message (tasklane/aws/sqs_queue.py): a message's tasks share one counter.
SHARD_BLOCK = 10

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def av(value: Any) -> dict[str, Any]:
    return dict(_serializer.serialize(value))


def plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def shard_count(total: int) -> int:
    return max(1, min(MAX_SHARDS, -(-total // TASKS_PER_SHARD)))


def shard_of(index: int, shards: int) -> int:
    return (index // SHARD_BLOCK) % shards


def shard_sizes(total: int, shards: int) -> list[int]:
    """How many of the job's tasks each shard holds."""
    sizes = [0] * shards
    full_blocks, rest = divmod(total, SHARD_BLOCK)
    for shard in range(shards):
        sizes[shard] = SHARD_BLOCK * (full_blocks // shards + (1 if shard < full_blocks % shards else 0))
    if rest:
        sizes[shard_of(full_blocks * SHARD_BLOCK, shards)] += rest
    return sizes


def index_of(task_id: str) -> int | None:
    """The index in a task id made by task_id_for; None for anything else (a task that cannot exist)."""
    digits = task_id[1:]
    return int(digits) if task_id[:1] == "t" and digits.isdigit() and digits.isascii() else None


def shard_pk(job_id: str, shard: int) -> str:
    return f"JOB#{job_id}#{shard}"


def job_key(job_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": JOB_SK}}


def meta_key(job_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": META_SK}}


def counter_key(job_id: str, shard: int) -> dict[str, Any]:
    return {"pk": {"S": shard_pk(job_id, shard)}, "sk": {"S": COUNT_SK}}


def task_key(job_id: str, task_id: str, shards: int) -> dict[str, Any]:
    # An id no task can have gets shard 0's key: reading it finds nothing, a conditional write is refused.
    shard = shard_of(index_of(task_id) or 0, shards)
    return {"pk": {"S": shard_pk(job_id, shard)}, "sk": {"S": f"{TASK_PREFIX}{task_id}"}}


def dead_letter_key(tenant: str, fingerprint: str, job_id: str, task_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"DEAD#{tenant}"}, "sk": {"S": f"{fingerprint}#{job_id}#{task_id}"}}


def job_items(job: Job) -> list[dict[str, Any]]:
    """The items a new job starts with: its head, its metadata and one counter item per shard."""
    shards = shard_count(job.total)
    sizes = shard_sizes(job.total, shards)
    # A created job has done nothing yet: every task of the job (job.total) is still to run.
    counters = [
        {**counter_key(job.job_id, shard), **{name: av(0) for name in COUNTERS},
         "total": av(size), "remaining": av(size), "updated_at": av(job.updated_at)}
        for shard, size in enumerate(sizes)
    ]
    meta = {**meta_key(job.job_id), "metadata_json": av(json.dumps(job.metadata))}
    return [head_item(job, shards, shards_left=sum(1 for size in sizes if size)), meta, *counters]


def head_item(job: Job, shards: int, shards_left: int) -> dict[str, Any]:
    item = {
        **job_key(job.job_id),
        "gsi1pk": av(f"TENANT#{job.tenant}"),
        "gsi1sk": av(f"{job.created_at}#{job.job_id}"),
        "job_id": av(job.job_id),
        "tenant": av(job.tenant),
        "name": av(job.name),
        "status": av(job.status.value),
        "created_at": av(job.created_at),
        "updated_at": av(job.updated_at),
        "total": av(job.total),
        "shards": av(shards),
        # Shards with tasks still to end: the commit that takes this to 0 finished the job.
        "shards_left": av(shards_left),
        "written": av(0),
        "sent": av(0),
        "run": av(0),
        "tolerated_failure_percentage": av(str(job.tolerated_failure_percentage)),
    }
    if job.max_concurrency:
        item["max_concurrency"] = av(job.max_concurrency)
    if job.timeout_seconds:
        item["timeout_seconds"] = av(job.timeout_seconds)
    return item


def job_from_items(head: dict[str, Any], meta: dict[str, Any] | None, counters: list[dict[str, Any]]) -> Job:
    """A job from its head, its metadata item and its counter items (summed)."""
    sums = {name: 0 for name in COUNTERS}
    updated_at = head["updated_at"]["S"]
    for counter in counters:
        for name in COUNTERS:
            sums[name] += int(counter[name]["N"])
        updated_at = max(updated_at, counter["updated_at"]["S"])
    values = {**head, "updated_at": av(updated_at), **{name: av(sums[name]) for name in COUNTERS[1:]}}
    if meta:
        values["metadata_json"] = meta["metadata_json"]
    return job_from_item(values)


def job_from_item(item: dict[str, Any]) -> Job:
    """A job from its head alone (counters and metadata are in other items: they read as 0 and {})."""
    p = plain(item)
    return Job(
        job_id=p["job_id"],
        tenant=p["tenant"],
        name=p["name"],
        status=JobStatus(p["status"]),
        created_at=p["created_at"],
        updated_at=p["updated_at"],
        total=int(p["total"]),
        remaining=int(p.get("remaining", 0)),
        running=int(p.get("running", 0)),
        succeeded=int(p.get("succeeded", 0)),
        failed=int(p.get("failed", 0)),
        cancelled=int(p.get("cancelled", 0)),
        tolerated_failure_percentage=float(p.get("tolerated_failure_percentage", 0)),
        metadata=json.loads(p.get("metadata_json", "{}")),
        max_concurrency=int(p["max_concurrency"]) if "max_concurrency" in p else None,
        timeout_seconds=int(p["timeout_seconds"]) if "timeout_seconds" in p else None,
        run=int(p.get("run", 0)),
        stop_reason=StopReason(p["stop_reason"]) if p.get("stop_reason") else None,
        sent=int(p.get("sent", 0)),
        error=p.get("error"),
    )


def task_item(record: TaskRecord, shards: int) -> dict[str, Any]:
    item = {
        **task_key(record.job_id, record.task_id, shards),
        "job_id": av(record.job_id),
        "task_id": av(record.task_id),
        "idx": av(record.index),
        "type": av(record.type),
        "runtime": av(record.runtime.value),
        "status": av(record.status.value),
        "payload_json": av(json.dumps(record.payload)),
        "max_attempts": av(record.max_attempts),
        "run": av(record.run),
        "created_at": av(record.created_at),
        "updated_at": av(record.updated_at),
    }
    if record.payload_ref:
        item["payload_ref"] = av(record.payload_ref)
    if record.timeout_seconds:
        item["timeout_seconds"] = av(record.timeout_seconds)
    return item


def task_from_item(item: dict[str, Any]) -> TaskRecord:
    p = plain(item)
    return TaskRecord(
        job_id=p["job_id"],
        task_id=p["task_id"],
        index=int(p["idx"]),
        type=p["type"],
        runtime=p["runtime"],
        status=TaskStatus(p["status"]),
        attempts=int(p.get("attempts", 0)),
        payload=json.loads(p.get("payload_json", "{}")),
        payload_ref=p.get("payload_ref"),
        max_attempts=int(p.get("max_attempts", 3)),
        timeout_seconds=int(p["timeout_seconds"]) if p.get("timeout_seconds") else None,
        run=int(p.get("run", 0)),
        result=json.loads(p["result_json"]) if "result_json" in p else None,
        error=p.get("error"),
        redriven_by=p.get("redriven_by"),
        redriven_at=p.get("redriven_at"),
        progress=float(p["progress"]) if p.get("progress") is not None else None,
        progress_message=p.get("progress_message"),
        history=[{**h, "attempt": int(h["attempt"])} for h in p.get("history", [])],
        created_at=p["created_at"],
        updated_at=p["updated_at"],
    )


def dead_letter_item(letter: DeadLetter) -> dict[str, Any]:
    item = {
        **dead_letter_key(letter.tenant, letter.fingerprint, letter.job_id, letter.task_id),
        "fingerprint": av(letter.fingerprint),
        "job_id": av(letter.job_id),
        "task_id": av(letter.task_id),
        "task_type": av(letter.task_type),
        "error": av(letter.error[:4000]),
        "source": av(letter.source),
        "dead_at": av(letter.dead_at),
    }
    if letter.body is not None:
        item["body"] = av(letter.body[:16_000])
    return item


def dead_letter_from_item(tenant: str, item: dict[str, Any]) -> DeadLetter:
    p = plain(item)
    return DeadLetter(
        tenant=tenant, fingerprint=p["fingerprint"], job_id=p["job_id"], task_id=p["task_id"],
        task_type=p["task_type"], error=p["error"], source=p["source"], dead_at=p["dead_at"], body=p.get("body"),
    )


def encode_token(key: dict[str, Any]) -> str:
    """A pagination token: DynamoDB's LastEvaluatedKey, opaque to clients."""
    return base64.urlsafe_b64encode(json.dumps({k: v["S"] for k, v in key.items()}).encode()).decode()


def decode_token(token: str, expected_keys: set[str]) -> dict[str, Any]:
    try:
        # validate=True: by default b64decode drops characters outside the alphabet, so garbage decodes.
        decoded = json.loads(base64.b64decode(token.encode(), altchars=b"-_", validate=True))
        if not isinstance(decoded, dict) or set(decoded) != expected_keys:
            raise ValueError("unexpected token shape")
        return {k: {"S": str(v)} for k, v in decoded.items()}
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidRequest("next_token is not a token this API returned") from exc
