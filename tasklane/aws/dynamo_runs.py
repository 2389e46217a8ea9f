"""A job's control state: stopping it, resuming its workflow, new runs, windows and dead letters."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

from tasklane.aws.dynamo_items import (
    TASK_PREFIX,
    av,
    dead_letter_from_item,
    dead_letter_item,
    dead_letter_key,
    job_from_item,
    job_key,
    task_from_item,
    task_key,
)
from tasklane.aws.dynamo_outcomes import Cancelled
from tasklane.clock import now_iso
from tasklane.dead_letters import DeadLetter, fingerprint
from tasklane.models import Job, JobStatus, StopReason, TaskRecord, TaskStatus, task_id_for

FINAL_STATUSES = [s.value for s in JobStatus if s.is_final]
# Each reopened task is its update plus the deletion of its dead letter; one more item is the job's.
REOPEN_PER_TRANSACTION = 49


class JobControl:
    table: str
    _ddb: Any

    def transact(self, items: list[dict[str, Any]]) -> None: ...

    # --- stopping ---------------------------------------------------------------------------------------

    def request_stop(self, job_id: str, reason: StopReason) -> Job | None:
        try:
            item = self._ddb.update_item(
                TableName=self.table,
                Key=job_key(job_id),
                UpdateExpression="SET stop_reason = :reason, stop_requested_at = :now, updated_at = :now",
                ConditionExpression="#status IN (:pending, :running) AND attribute_not_exists(stop_reason)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":reason": av(reason.value), ":now": av(now_iso()),
                    ":pending": av(JobStatus.PENDING.value), ":running": av(JobStatus.RUNNING.value),
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return None
        return job_from_item(item)

    def stopped_jobs(self, job_ids: list[str]) -> set[str]:
        stopped: set[str] = set()
        unique = sorted(set(job_ids))
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [job_key(j) for j in unique[start : start + 100]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "job_id, stop_reason",
                }
            }
            while request:
                response = self._ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    if "stop_reason" in item:
                        stopped.add(item["job_id"]["S"])
                request = response.get("UnprocessedKeys") or {}
        return stopped

    def cancel_unwritten(self, job_id: str) -> int:
        """Count as cancelled the tasks a stopped dispatch never wrote; returns how many."""
        item = self._ddb.get_item(
            TableName=self.table, Key=job_key(job_id), ConsistentRead=True, ProjectionExpression="written, #t",
            ExpressionAttributeNames={"#t": "total"},
        ).get("Item")
        if item is None:
            return 0
        written, total = int(item["written"]["N"]), int(item["total"]["N"])
        if written >= total:
            return 0
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=job_key(job_id),
                UpdateExpression="SET written = :total, updated_at = :now ADD cancelled :n, remaining :minus",
                ConditionExpression="written = :written",
                ExpressionAttributeValues={
                    ":total": av(total), ":written": av(written), ":n": av(total - written),
                    ":minus": av(written - total), ":now": av(now_iso()),
                },
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return 0
        return total - written

    def live_tasks(self, job_id: str) -> Iterator[TaskRecord]:
        return self._tasks_with_status(job_id, TaskStatus.PENDING, TaskStatus.RUNNING)

    # --- resuming the workflow --------------------------------------------------------------------------

    def save_resume_token(self, job_id: str, token: str) -> Job:
        item = self._ddb.update_item(
            TableName=self.table,
            Key=job_key(job_id),
            UpdateExpression="SET task_token = :token, updated_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":token": av(token), ":now": av(now_iso())},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return job_from_item(item)

    def claim_resume(self, job_id: str, *, require_done: bool = True) -> str | None:
        # The claim stores an id of its own. When its answer is lost after it took effect (a 5xx, a timeout),
        # the SDK sends the same request again, which now fails its condition: the id it finds tells it the
        # claim was its own, so the workflow is still resumed, by this caller only.
        claim = uuid.uuid4().hex
        condition = "attribute_exists(task_token) AND attribute_not_exists(resumed)"
        values: dict[str, Any] = {":claim": av(claim)}
        if require_done:
            condition += " AND remaining = :zero"
            values[":zero"] = av(0)
        try:
            item = self._ddb.update_item(
                TableName=self.table,
                Key=job_key(job_id),
                UpdateExpression="SET resumed = :claim",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )["Attributes"]
        except self._ddb.exceptions.ConditionalCheckFailedException as failed:
            old = failed.response.get("Item") or {}
            if old.get("resumed", {}).get("S") == claim and "task_token" in old:
                return str(old["task_token"]["S"])
            return None
        return str(item["task_token"]["S"])

    # --- runs -------------------------------------------------------------------------------------------

    def begin_run(self, job_id: str, run: int) -> Job | None:
        finals = {f":final{i}": av(s) for i, s in enumerate(FINAL_STATUSES)}
        try:
            item = self._ddb.update_item(
                TableName=self.table,
                Key=job_key(job_id),
                UpdateExpression="SET #status = :pending, run = :run, updated_at = :now "
                "REMOVE resumed, task_token, stop_reason, stop_requested_at, #error",
                ConditionExpression=f"#status IN ({', '.join(finals)}) AND run = :previous",
                ExpressionAttributeNames={"#status": "status", "#error": "error"},
                ExpressionAttributeValues={
                    ":pending": av(JobStatus.PENDING.value), ":run": av(run), ":previous": av(run - 1),
                    ":now": av(now_iso()), **finals,
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return None
        return job_from_item(item)

    def reopen_tasks(
        self,
        job_id: str,
        run: int,
        task_ids: list[str] | None,
        payload: dict[str, Any] | None,
        by: str,
        payload_ref: str | None = None,
    ) -> list[TaskRecord]:
        job = self._ddb.get_item(TableName=self.table, Key=job_key(job_id), ConsistentRead=True)["Item"]
        tenant = job["tenant"]["S"]
        chosen = set(task_ids) if task_ids is not None else None
        failed = [
            t for t in self._tasks_with_status(job_id, TaskStatus.FAILED) if chosen is None or t.task_id in chosen
        ]
        reopened: list[TaskRecord] = []
        for start in range(0, len(failed), REOPEN_PER_TRANSACTION):
            chunk = failed[start : start + REOPEN_PER_TRANSACTION]
            reopened += self._reopen_chunk(job_id, tenant, run, chunk, payload, by, payload_ref)
        return reopened

    def _reopen_chunk(
        self,
        job_id: str,
        tenant: str,
        run: int,
        tasks: list[TaskRecord],
        payload: dict[str, Any] | None,
        by: str,
        payload_ref: str | None,
    ) -> list[TaskRecord]:
        live = list(tasks)
        while live:
            now = av(now_iso())
            items: list[dict[str, Any]] = []
            for task in live:
                sets = "#status = :pending, run = :run, redriven_by = :by, redriven_at = :now, updated_at = :now"
                values: dict[str, Any] = {
                    ":pending": av(TaskStatus.PENDING.value), ":failed": av(TaskStatus.FAILED.value),
                    ":run": av(run), ":by": av(by), ":now": now,
                }
                removes = "#error"
                if payload_ref is not None:
                    sets += ", payload_json = :payload, payload_ref = :payload_ref"
                    values[":payload"], values[":payload_ref"] = av("{}"), av(payload_ref)
                elif payload is not None:
                    sets += ", payload_json = :payload"
                    values[":payload"] = av(json.dumps(payload))
                    removes += ", payload_ref"
                items.append({
                    "Update": {
                        "TableName": self.table,
                        "Key": task_key(job_id, task.task_id),
                        "UpdateExpression": f"SET {sets} REMOVE {removes}",
                        "ConditionExpression": "#status = :failed",
                        "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
                        "ExpressionAttributeValues": values,
                    }
                })
            items.append({
                "Update": {
                    "TableName": self.table,
                    "Key": job_key(job_id),
                    "UpdateExpression": "ADD failed :minus, remaining :plus SET updated_at = :now",
                    "ExpressionAttributeValues": {":minus": av(-len(live)), ":plus": av(len(live)), ":now": now},
                }
            })
            items += [
                {"Delete": {"TableName": self.table, "Key": dead_letter_key(
                    tenant, fingerprint(t.type, t.error), job_id, t.task_id)}}
                for t in live
            ]
            try:
                self.transact(items)
                return live
            except Cancelled as cancelled:
                refused = {t.task_id for t, code in zip(live, cancelled.codes, strict=False) if code != "None"}
                if not refused:
                    raise
                live = [t for t in live if t.task_id not in refused]
        return []

    def _tasks_with_status(self, job_id: str, *statuses: TaskStatus) -> Iterator[TaskRecord]:
        """The job's tasks in any of `statuses`, read consistently, page after page."""
        wanted = {f":status{i}": av(status.value) for i, status in enumerate(statuses)}
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "FilterExpression": f"#status IN ({', '.join(wanted)})",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":pk": av(f"JOB#{job_id}"), ":prefix": av(TASK_PREFIX), **wanted},
            "ConsistentRead": True,
        }
        yield from (task_from_item(item) for item in self._query_all(query))

    # --- windows (max_concurrency) ----------------------------------------------------------------------

    def claim_window(self, job_id: str, count: int) -> range:
        if count <= 0:
            return range(0)
        item = self._ddb.update_item(
            TableName=self.table,
            Key=job_key(job_id),
            UpdateExpression="ADD sent :count",
            ExpressionAttributeValues={":count": av(count)},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        claimed, total = int(item["sent"]["N"]), int(item["total"]["N"])
        return range(min(claimed - count, total), min(claimed, total))

    def tasks_between(self, job_id: str, start: int, stop: int) -> list[TaskRecord]:
        if stop <= start:
            return []
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": av(f"JOB#{job_id}"),
                ":first": av(TASK_PREFIX + task_id_for(start)),
                ":last": av(TASK_PREFIX + task_id_for(stop - 1)),
            },
            "ConsistentRead": True,
        }
        return [task_from_item(item) for item in self._query_all(query)]

    # --- dead letters -----------------------------------------------------------------------------------

    def put_dead_letter(self, letter: DeadLetter) -> None:
        self._ddb.put_item(TableName=self.table, Item=dead_letter_item(letter))

    def dead_letters(self, tenant: str, *, limit: int) -> list[DeadLetter]:
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": av(f"DEAD#{tenant}")},
        }
        letters = (dead_letter_from_item(tenant, item) for item in self._query_all(query))
        return list(itertools.islice(letters, limit))

    def _query_all(self, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item a query matches, page after page, read lazily."""
        while True:
            response = self._ddb.query(**query)
            yield from response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

