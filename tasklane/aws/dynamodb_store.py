"""Job and task state in one DynamoDB table: the JobStore port's adapter.

Reads, listings and dispatch cursors live here; exact-once transitions in dynamo_outcomes.py; stopping,
runs, windows and dead letters in dynamo_reruns.py; the item layout in dynamo_items.py; riding out
conflicts and throttling in dynamo_retry.py.
"""

from __future__ import annotations

from typing import Any

from tasklane.aws.clients import client, parallel
from tasklane.aws.dynamo_items import (
    COUNT_SK,
    JOB_SK,
    MAX_SHARDS,
    META_SK,
    TASK_PREFIX,
    av,
    counter_key,
    decode_token,
    encode_token,
    job_from_items,
    job_items,
    job_key,
    meta_key,
    shard_count,
    shard_pk,
    task_from_item,
    task_item,
    task_key,
)
from tasklane.aws.dynamo_outcomes import Cancelled, OutcomeCommits
from tasklane.aws.dynamo_reruns import JobControl
from tasklane.aws.dynamo_retry import CONTENTION_ATTEMPTS, CONTENTION_BACKOFF, ContendedDynamoDB
from tasklane.backoff import retried
from tasklane.clock import now_iso
from tasklane.errors import InvalidRequest
from tasklane.models import Job, JobStatus, TaskRecord, TaskStatus
from tasklane.ports import JobPage, TaskPage

__all__ = ["DynamoJobStore", "job_key", "task_key"]

BATCH_WRITE = 25
BATCH_GET = 100
BY_TENANT = "by-tenant"
# Shard counts never change once a job exists; a process remembers this many jobs' before starting afresh.
KNOWN_SHARDS = 100_000


class Unprocessed(Exception):
    """DynamoDB left some of a batch's requests undone (throttled keys); the rest were done."""


class DynamoJobStore(OutcomeCommits, JobControl):
    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        self.table = table_name
        self._ddb = ContendedDynamoDB(dynamodb or client("dynamodb"))
        self._shard_counts: dict[str, int] = {}

    def shards(self, job_id: str) -> int | None:
        """The job's shard count (fixed at creation), read once per process; None for a job that does not exist."""
        known = self._shard_counts.get(job_id)
        if known is None:
            item = self._ddb.get_item(
                TableName=self.table, Key=job_key(job_id), ConsistentRead=True, ProjectionExpression="shards"
            ).get("Item")
            if item is None:
                return None
            known = self._remember(job_id, int(item["shards"]["N"]))
        return known

    def _remember(self, job_id: str, shards: int) -> int:
        if len(self._shard_counts) >= KNOWN_SHARDS:
            self._shard_counts.clear()
        self._shard_counts[job_id] = shards
        return shards

    # --- jobs -------------------------------------------------------------------------------------------

    def create_job(self, job: Job) -> None:
        """Head, metadata and counters at once: a job is never seen half-created."""
        head, *rest = job_items(job)
        puts = [{"Put": {"TableName": self.table, "Item": head, "ConditionExpression": "attribute_not_exists(pk)"}}]
        puts += [{"Put": {"TableName": self.table, "Item": item}} for item in rest]
        try:
            self.transact(puts)
        except Cancelled as cancelled:
            if cancelled.codes[0] == "ConditionalCheckFailed":
                raise self._ddb.exceptions.ConditionalCheckFailedException(
                    {"Error": {"Code": "ConditionalCheckFailedException", "Message": "the job exists"}}, "PutItem"
                ) from None
            raise
        self._remember(job.job_id, shard_count(job.total))

    def get_job(self, job_id: str) -> Job | None:
        """The job with exact counts, in one BatchGetItem: head, metadata and every counter shard (when the
        shard count is not known yet, every key a shard can have: those that do not exist cost a read each)."""
        shards = self._shard_counts.get(job_id, MAX_SHARDS)
        keys = [job_key(job_id), meta_key(job_id), *(counter_key(job_id, k) for k in range(shards))]
        items = self._batch_get(keys)
        head = next((i for i in items if i["sk"]["S"] == JOB_SK), None)
        if head is None:
            return None
        self._remember(job_id, int(head["shards"]["N"]))
        return self._job_of(head, items)

    def _job_of(self, head: dict[str, Any], items: list[dict[str, Any]]) -> Job:
        pk = head["pk"]["S"]
        meta = next((i for i in items if i["pk"]["S"] == pk and i["sk"]["S"] == META_SK), None)
        shard_pks = {f"{pk}#{k}" for k in range(int(head["shards"]["N"]))}
        counters = [i for i in items if i["sk"]["S"] == COUNT_SK and i["pk"]["S"] in shard_pks]
        return job_from_items(head, meta, counters)

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every item of `keys` that exists, read consistently: 100 keys to a request, requests side by side."""
        if len(keys) <= BATCH_GET:
            return self._batch_get_one(keys) if keys else []
        chunks = [keys[start : start + BATCH_GET] for start in range(0, len(keys), BATCH_GET)]
        return [item for items in parallel().map(self._batch_get_one, chunks) for item in items]

    def _batch_get_one(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            response = self._ddb.batch_get_item(RequestItems=request)
            items += response.get("Responses", {}).get(self.table, [])
            request = response.get("UnprocessedKeys") or {}
        return items

    def set_job_status(
        self, job_id: str, status: JobStatus, *, only_from: tuple[JobStatus, ...], error: str | None = None
    ) -> bool:
        allowed = {f":from{i}": av(s.value) for i, s in enumerate(only_from)}
        why = {":error": av(error)} if error is not None else {}
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=job_key(job_id),
                UpdateExpression="SET #status = :status, updated_at = :now" + (", #error = :error" if why else ""),
                ConditionExpression=f"attribute_exists(pk) AND #status IN ({', '.join(allowed)})",
                ExpressionAttributeNames={"#status": "status", **({"#error": "error"} if why else {})},
                ExpressionAttributeValues={":status": av(status.value), ":now": av(now_iso()), **allowed, **why},
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def list_jobs(self, tenant: str, *, status: JobStatus | None, limit: int, next_token: str | None) -> JobPage:
        """A tenant's jobs, newest first, from the by-tenant index (never a scan)."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_TENANT,
            "KeyConditionExpression": "gsi1pk = :tenant",
            "ExpressionAttributeValues": {":tenant": av(f"TENANT#{tenant}")},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        _only_status(query, status)
        if next_token:
            start = decode_token(next_token, {"pk", "sk", "gsi1pk", "gsi1sk"})
            if start["gsi1pk"]["S"] != f"TENANT#{tenant}":
                raise_invalid_token()
            query["ExclusiveStartKey"] = start
        heads, last = self._paged(query, limit)
        # The index holds heads only: their metadata and counters come in one more read per 100 keys.
        keys = [key for head in heads for key in (
            meta_key(head["job_id"]["S"]),
            *(counter_key(head["job_id"]["S"], k) for k in range(int(head["shards"]["N"]))),
        )]
        items = self._batch_get(keys)
        jobs = [self._job_of(head, items) for head in heads]
        return JobPage(items=jobs, next_token=encode_token(last) if last else None)

    # --- dispatch ---------------------------------------------------------------------------------------

    def dispatch_cursor(self, job_id: str) -> tuple[int, int]:
        item = self._ddb.get_item(
            TableName=self.table, Key=job_key(job_id), ConsistentRead=True, ProjectionExpression="written, sent"
        )["Item"]
        return int(item["written"]["N"]), int(item["sent"]["N"])

    def write_tasks(self, job_id: str, records: list[TaskRecord], written_upto: int) -> None:
        shards = self.shards(job_id) or 1
        requests = [{"PutRequest": {"Item": task_item(record, shards)}} for record in records]
        batches = [requests[start : start + BATCH_WRITE] for start in range(0, len(requests), BATCH_WRITE)]
        # Batches go out side by side: a dispatch is bound by round trips, not by DynamoDB's capacity.
        list(parallel().map(self._batch_write, batches))
        self._set_cursor(job_id, "written", written_upto)

    def mark_sent(self, job_id: str, sent_upto: int) -> None:
        self._set_cursor(job_id, "sent", sent_upto)

    def _set_cursor(self, job_id: str, name: str, value: int) -> None:
        self._ddb.update_item(
            TableName=self.table,
            Key=job_key(job_id),
            UpdateExpression="SET #cursor = :value",
            ExpressionAttributeNames={"#cursor": name},
            ExpressionAttributeValues={":value": av(value)},
        )

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self.table: requests}

        def write() -> None:
            nonlocal pending
            pending = self._ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if pending:
                raise Unprocessed(f"{len(pending.get(self.table, []))} task items left unwritten")

        retried(write, lambda error: isinstance(error, Unprocessed), attempts=CONTENTION_ATTEMPTS,
                backoff=CONTENTION_BACKOFF)

    # --- tasks ------------------------------------------------------------------------------------------

    def list_tasks(self, job_id: str, *, status: TaskStatus | None, limit: int, next_token: str | None) -> TaskPage:
        """The job's tasks shard after shard, each shard's in task order (a one-shard job: all in order)."""
        shards = self.shards(job_id) or 1
        shard, start = 0, None
        if next_token:
            start = decode_token(next_token, {"pk", "sk"})
            pks = {shard_pk(job_id, k): k for k in range(shards)}
            if start["pk"]["S"] not in pks or not start["sk"]["S"].startswith(TASK_PREFIX):
                raise_invalid_token()
            shard = pks[start["pk"]["S"]]
        items: list[dict[str, Any]] = []
        while True:
            query: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": {":pk": av(shard_pk(job_id, shard)), ":prefix": av(TASK_PREFIX)},
                "Limit": limit - len(items),
            }
            _only_status(query, status)
            if start:
                query["ExclusiveStartKey"] = start
            page, last = self._paged(query, limit - len(items))
            items += page
            if last is None and shard + 1 < shards:
                # This shard is done: the page goes on in the next one, or ends where it stands.
                shard, start = shard + 1, None
                last = {"pk": {"S": shard_pk(job_id, shard)}, "sk": {"S": TASK_PREFIX}}
                if len(items) < limit:
                    continue
            break
        return TaskPage(items=[task_from_item(i) for i in items], next_token=encode_token(last) if last else None)

    def get_task(self, job_id: str, task_id: str) -> TaskRecord | None:
        shards = self.shards(job_id)
        if shards is None:
            return None
        item = self._ddb.get_item(TableName=self.table, Key=task_key(job_id, task_id, shards), ConsistentRead=True)
        return task_from_item(item["Item"]) if "Item" in item else None

    def _paged(self, query: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Up to `limit` items, following DynamoDB's pages (a filter may leave a page short)."""
        items: list[dict[str, Any]] = []
        while True:
            response = self._ddb.query(**query)
            items += response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last or len(items) >= limit:
                return items[:limit], last
            query["ExclusiveStartKey"] = last
            query["Limit"] = limit - len(items)


def _only_status(query: dict[str, Any], status: JobStatus | TaskStatus | None) -> None:
    """Filter a listing to one status (after the key condition: a page may come back short)."""
    if status is not None:
        query["FilterExpression"] = "#status = :status"
        query["ExpressionAttributeNames"] = {"#status": "status"}
        query["ExpressionAttributeValues"][":status"] = av(status.value)


def raise_invalid_token() -> None:
    raise InvalidRequest("next_token is not a token this API returned")
