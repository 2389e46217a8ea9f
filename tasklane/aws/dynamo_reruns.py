"""A job's control state: stopping it, resuming its workflow, new runs, windows and dead letters."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

from tasklane.aws.dynamo_items import (
    SHARD_BLOCK,
    TASK_PREFIX,
    av,
    dead_letter_from_item,
    dead_letter_item,
    dead_letter_key,
    index_of,
    job_key,
    meta_key,
    shard_of,
    shard_pk,
    shard_sizes,
    task_from_item,
    task_key,
)
from tasklane.aws.dynamo_outcomes import MAX_COMMIT_ROUNDS, REFUSED, Cancelled, Counting
from tasklane.clock import now_iso
from tasklane.dead_letters import DeadLetter, fingerprint
from tasklane.models import Job, JobStatus, StopReason, TaskRecord, TaskStatus, task_id_for

FINAL_STATUSES = [s.value for s in JobStatus if s.is_final]
# Each reopened task is its update plus the deletion of its dead letter, and perhaps its shard's counter;
# one more item is the head: 33 * 3 + 1 = 100, DynamoDB's most.
REOPEN_PER_TRANSACTION = 33


def _reopen_counting(table: str, job_id: str, shards: int, tasks: list[TaskRecord], opened: set[int]) -> Counting:
    """Counter updates for reopening `tasks`; a shard not opened yet by this call is guessed to be at 0."""
    per_shard: dict[int, int] = {}
    for task in tasks:
        shard = shard_of(index_of(task.task_id) or 0, shards)
        per_shard[shard] = per_shard.get(shard, 0) + 1
    deltas = {shard: {"failed": -n, "remaining": n} for shard, n in per_shard.items()}
    return Counting(table, job_id, deltas, crossing=set(per_shard) - opened)


class JobControl:
    table: str
    _ddb: Any

    def transact(self, items: list[dict[str, Any]]) -> None: ...

    def shards(self, job_id: str) -> int | None: ...

    def get_job(self, job_id: str) -> Job | None: ...

    # --- stopping ---------------------------------------------------------------------------------------

    def request_stop(self, job_id: str, reason: StopReason) -> Job | None:
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=job_key(job_id),
                UpdateExpression="SET stop_reason = :reason, stop_requested_at = :now, updated_at = :now",
                ConditionExpression="#status IN (:pending, :running) AND attribute_not_exists(stop_reason)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":reason": av(reason.value), ":now": av(now_iso()),
                    ":pending": av(JobStatus.PENDING.value), ":running": av(JobStatus.RUNNING.value),
                },
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return None
        return self.get_job(job_id)

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
            TableName=self.table, Key=job_key(job_id), ConsistentRead=True, ProjectionExpression="written, #t, shards",
            ExpressionAttributeNames={"#t": "total"},
        ).get("Item")
        if item is None:
            return 0
        written, total, shards = (int(item[name]["N"]) for name in ("written", "total", "shards"))
        if written >= total:
            return 0
        # Tasks are written in index order, so the written ones are the first of each shard.
        unwritten = [all_ - done for all_, done in zip(shard_sizes(total, shards), shard_sizes(written, shards),
                                                        strict=True)]
        counting = Counting(
            self.table, job_id, {k: {"cancelled": n, "remaining": -n} for k, n in enumerate(unwritten) if n},
            head_set="written = :total", head_condition="written = :written",
            head_values={":total": av(total), ":written": av(written)},
        )
        for _ in range(MAX_COMMIT_ROUNDS):
            try:
                self.transact(counting.items())
                return total - written
            except Cancelled as cancelled:
                if cancelled.codes[-1] == REFUSED and self._written(job_id) != written:
                    return 0  # another call cancelled them first
                if not counting.flip(cancelled.codes):
                    raise
        raise RuntimeError(f"could not cancel the unwritten tasks of job {job_id}")

    def _written(self, job_id: str) -> int:
        item = self._ddb.get_item(
            TableName=self.table, Key=job_key(job_id), ConsistentRead=True, ProjectionExpression="written"
        )["Item"]
        return int(item["written"]["N"])

    def live_tasks(self, job_id: str) -> Iterator[TaskRecord]:
        return self._tasks_with_status(job_id, TaskStatus.PENDING, TaskStatus.RUNNING)

    # --- resuming the workflow --------------------------------------------------------------------------

    def save_resume_token(self, job_id: str, token: str) -> Job:
        """The token goes beside the metadata, off the head; then the head says the workflow waits."""
        self._ddb.update_item(
            TableName=self.table,
            Key=meta_key(job_id),
            UpdateExpression="SET task_token = :token",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":token": av(token)},
        )
        self._ddb.update_item(
            TableName=self.table,
            Key=job_key(job_id),
            UpdateExpression="SET waiting = :now, updated_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":now": av(now_iso())},
        )
        job = self.get_job(job_id)
        assert job is not None  # the head was just updated, and a job is never deleted
        return job

    def claim_resume(self, job_id: str, *, require_done: bool = True) -> str | None:
        # The claim stores an id of its own. When its answer is lost after it took effect (a 5xx, a timeout),
        # the SDK sends the same request again, which now fails its condition: the id it finds tells it the
        # claim was its own, so the workflow is still resumed, by this caller only.
        claim = uuid.uuid4().hex
        condition = "attribute_exists(waiting) AND attribute_not_exists(resumed)"
        values: dict[str, Any] = {":claim": av(claim)}
        if require_done:
            condition += " AND shards_left = :zero"
            values[":zero"] = av(0)
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=job_key(job_id),
                UpdateExpression="SET resumed = :claim",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException as failed:
            old = failed.response.get("Item") or {}
            if old.get("resumed", {}).get("S") != claim or "waiting" not in old:
                return None
        # The token was stored before `waiting` was set, and stays until the next run's replaces it.
        meta = self._ddb.get_item(TableName=self.table, Key=meta_key(job_id), ConsistentRead=True)["Item"]
        return str(meta["task_token"]["S"])

    # --- runs -------------------------------------------------------------------------------------------

    def begin_run(self, job_id: str, run: int) -> Job | None:
        finals = {f":final{i}": av(s) for i, s in enumerate(FINAL_STATUSES)}
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=job_key(job_id),
                UpdateExpression="SET #status = :pending, run = :run, updated_at = :now "
                "REMOVE resumed, waiting, stop_reason, stop_requested_at, #error",
                ConditionExpression=f"#status IN ({', '.join(finals)}) AND run = :previous",
                ExpressionAttributeNames={"#status": "status", "#error": "error"},
                ExpressionAttributeValues={
                    ":pending": av(JobStatus.PENDING.value), ":run": av(run), ":previous": av(run - 1),
                    ":now": av(now_iso()), **finals,
                },
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return None
        return self.get_job(job_id)

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
        tenant, shards = job["tenant"]["S"], int(job["shards"]["N"])
        chosen = set(task_ids) if task_ids is not None else None
        failed = [
            t for t in self._tasks_with_status(job_id, TaskStatus.FAILED) if chosen is None or t.task_id in chosen
        ]
        reopened: list[TaskRecord] = []
        opened: set[int] = set()  # shards this call took up from 0 already
        for start in range(0, len(failed), REOPEN_PER_TRANSACTION):
            chunk = failed[start : start + REOPEN_PER_TRANSACTION]
            reopened += self._reopen_chunk(job_id, tenant, shards, run, chunk, payload, by, payload_ref, opened)
        return reopened

    def _reopen_chunk(
        self, job_id: str, tenant: str, shards: int, run: int, tasks: list[TaskRecord],
        payload: dict[str, Any] | None, by: str, payload_ref: str | None, opened: set[int],
    ) -> list[TaskRecord]:
        live = list(tasks)
        counting = _reopen_counting(self.table, job_id, shards, live, opened)
        for _ in range(MAX_COMMIT_ROUNDS):
            if not live:
                return []
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
                        "Key": task_key(job_id, task.task_id, shards),
                        "UpdateExpression": f"SET {sets} REMOVE {removes}",
                        "ConditionExpression": "#status = :failed",
                        "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
                        "ExpressionAttributeValues": values,
                    }
                })
            items += counting.items()
            items += [
                {"Delete": {"TableName": self.table, "Key": dead_letter_key(
                    tenant, fingerprint(t.type, t.error), job_id, t.task_id)}}
                for t in live
            ]
            try:
                self.transact(items)
                opened |= set(counting.deltas)  # each has tasks to run now
                return live
            except Cancelled as cancelled:
                refused = {t.task_id for t, code in zip(live, cancelled.codes, strict=False) if code == REFUSED}
                if refused:
                    live = [t for t in live if t.task_id not in refused]
                    counting = _reopen_counting(self.table, job_id, shards, live, opened)
                elif not counting.flip(cancelled.codes[len(live) :]):
                    raise
        raise RuntimeError(f"could not reopen {len(live)} tasks of job {job_id}")

    def _tasks_with_status(self, job_id: str, *statuses: TaskStatus) -> Iterator[TaskRecord]:
        """The job's tasks in any of `statuses`, shard after shard, read consistently, page after page."""
        wanted = {f":status{i}": av(status.value) for i, status in enumerate(statuses)}
        for shard in range(self.shards(job_id) or 0):
            query: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "FilterExpression": f"#status IN ({', '.join(wanted)})",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":pk": av(shard_pk(job_id, shard)), ":prefix": av(TASK_PREFIX), **wanted,
                },
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
        """The tasks with indexes in [start, stop), in order: one query per shard that holds some of them."""
        shards = self.shards(job_id)
        if stop <= start or shards is None:
            return []
        # Within a shard, the indexes of the range are consecutive in sort-key order: one BETWEEN each.
        bounds: dict[int, tuple[int, int]] = {}
        for block in range(start // SHARD_BLOCK, (stop - 1) // SHARD_BLOCK + 1):
            first, last = max(start, block * SHARD_BLOCK), min(stop - 1, block * SHARD_BLOCK + SHARD_BLOCK - 1)
            shard = shard_of(first, shards)
            bounds[shard] = (bounds.get(shard, (first, last))[0], last)
        records: list[TaskRecord] = []
        for shard, (first, last) in bounds.items():
            query: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
                "ExpressionAttributeValues": {
                    ":pk": av(shard_pk(job_id, shard)),
                    ":first": av(TASK_PREFIX + task_id_for(first)),
                    ":last": av(TASK_PREFIX + task_id_for(last)),
                },
                "ConsistentRead": True,
            }
            records += (task_from_item(item) for item in self._query_all(query))
        return sorted(records, key=lambda record: record.index)

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

