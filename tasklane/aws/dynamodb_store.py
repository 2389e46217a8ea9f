"""Job and task state in one DynamoDB table: the JobStore port's adapter.

Reads, listings and dispatch cursors live here; exact-once transitions in dynamo_outcomes.py; stopping,
runs, windows and dead letters in dynamo_runs.py; the item layout in dynamo_items.py.
"""

from __future__ import annotations

import random
import time
from typing import Any

from tasklane.aws.clients import client, parallel
from tasklane.aws.dynamo_items import (
    TASK_PREFIX,
    av,
    decode_token,
    encode_token,
    job_from_item,
    job_item,
    job_key,
    task_from_item,
    task_item,
    task_key,
)
from tasklane.aws.dynamo_outcomes import OutcomeCommits
from tasklane.aws.dynamo_runs import JobControl
from tasklane.clock import now_iso
from tasklane.errors import InvalidRequest
from tasklane.models import Job, JobStatus, TaskRecord, TaskStatus
from tasklane.ports import JobPage, TaskPage

__all__ = ["DynamoJobStore", "job_key", "task_key"]

BATCH_WRITE = 25
BY_TENANT = "by-tenant"


class DynamoJobStore(OutcomeCommits, JobControl):
    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        self.table = table_name
        self._ddb = dynamodb or client("dynamodb")

    # --- jobs -------------------------------------------------------------------------------------------

    def create_job(self, job: Job) -> None:
        self._ddb.put_item(TableName=self.table, Item=job_item(job), ConditionExpression="attribute_not_exists(pk)")

    def get_job(self, job_id: str) -> Job | None:
        item = self._ddb.get_item(TableName=self.table, Key=job_key(job_id), ConsistentRead=True).get("Item")
        return job_from_item(item) if item else None

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
        items, last = self._paged(query, limit)
        return JobPage(items=[job_from_item(i) for i in items], next_token=encode_token(last) if last else None)

    # --- dispatch ---------------------------------------------------------------------------------------

    def dispatch_cursor(self, job_id: str) -> tuple[int, int]:
        item = self._ddb.get_item(
            TableName=self.table, Key=job_key(job_id), ConsistentRead=True, ProjectionExpression="written, sent"
        )["Item"]
        return int(item["written"]["N"]), int(item["sent"]["N"])

    def write_tasks(self, job_id: str, records: list[TaskRecord], written_upto: int) -> None:
        requests = [{"PutRequest": {"Item": task_item(record)}} for record in records]
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
        for attempt in range(10):
            unprocessed = self._ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not unprocessed:
                return
            pending = unprocessed
            time.sleep(random.uniform(0, 0.05 * 2**attempt))
        raise RuntimeError("DynamoDB left task items unwritten after 10 tries")

    # --- tasks ------------------------------------------------------------------------------------------

    def list_tasks(self, job_id: str, *, status: TaskStatus | None, limit: int, next_token: str | None) -> TaskPage:
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": av(f"JOB#{job_id}"), ":prefix": av(TASK_PREFIX)},
            "Limit": limit,
        }
        _only_status(query, status)
        if next_token:
            start = decode_token(next_token, {"pk", "sk"})
            if start["pk"]["S"] != f"JOB#{job_id}" or not start["sk"]["S"].startswith(TASK_PREFIX):
                raise_invalid_token()
            query["ExclusiveStartKey"] = start
        items, last = self._paged(query, limit)
        return TaskPage(items=[task_from_item(i) for i in items], next_token=encode_token(last) if last else None)

    def get_task(self, job_id: str, task_id: str) -> TaskRecord | None:
        item = self._ddb.get_item(TableName=self.table, Key=task_key(job_id, task_id), ConsistentRead=True)
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
