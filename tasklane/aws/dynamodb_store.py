"""Job and task state in one DynamoDB table.

A job is the item (JOB#<id>, JOB); its tasks are (JOB#<id>, TASK#<task id>). Every task transition is a
conditional write, and the job's counters move in the same transaction as the task items they count, so
a duplicate delivery or a late finisher can never count twice.
"""

from __future__ import annotations

import base64
import json
import random
import time
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from tasklane.aws.clients import client
from tasklane.clock import now_iso
from tasklane.errors import InvalidRequest
from tasklane.execution import OutcomeKind, TaskOutcome
from tasklane.models import Job, JobStatus, TaskMessage, TaskRecord, TaskStatus
from tasklane.ports import CommitResult, TaskPage

JOB_SK = "JOB"
TASK_PREFIX = "TASK#"
# DynamoDB takes 100 items per transaction: the job's counter item plus 99 tasks.
TASKS_PER_TRANSACTION = 99
BATCH_WRITE = 25
MAX_COMMIT_ROUNDS = 20

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _av(value: Any) -> dict[str, Any]:
    return _serializer.serialize(value)  # type: ignore[no-any-return]


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def job_key(job_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": JOB_SK}}


def task_key(job_id: str, task_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": f"{TASK_PREFIX}{task_id}"}}


class DynamoJobStore:
    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        self.table = table_name
        self._ddb = dynamodb or client("dynamodb")

    # --- jobs -------------------------------------------------------------------------------------------

    def create_job(self, job: Job) -> None:
        item = {
            **job_key(job.job_id),
            "gsi1pk": _av(f"TENANT#{job.tenant}"),
            "gsi1sk": _av(f"{job.created_at}#{job.job_id}"),
            "job_id": _av(job.job_id),
            "tenant": _av(job.tenant),
            "name": _av(job.name),
            "status": _av(job.status.value),
            "created_at": _av(job.created_at),
            "updated_at": _av(job.updated_at),
            "total": _av(job.total),
            "remaining": _av(job.remaining),
            "running": _av(0),
            "succeeded": _av(0),
            "failed": _av(0),
            "cancelled": _av(0),
            "written": _av(0),
            "sent": _av(0),
            "tolerated_failure_percentage": _av(str(job.tolerated_failure_percentage)),
            "metadata_json": _av(json.dumps(job.metadata)),
        }
        self._ddb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def get_job(self, job_id: str) -> Job | None:
        item = self._ddb.get_item(TableName=self.table, Key=job_key(job_id), ConsistentRead=True).get("Item")
        return _job(item) if item else None

    def set_job_status(self, job_id: str, status: JobStatus, *, only_from: tuple[JobStatus, ...]) -> bool:
        allowed = {f":from{i}": _av(s.value) for i, s in enumerate(only_from)}
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=job_key(job_id),
                UpdateExpression="SET #status = :status, updated_at = :now",
                ConditionExpression=f"attribute_exists(pk) AND #status IN ({', '.join(allowed)})",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":status": _av(status.value), ":now": _av(now_iso()), **allowed},
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # --- dispatch ---------------------------------------------------------------------------------------

    def dispatch_cursor(self, job_id: str) -> tuple[int, int]:
        item = self._ddb.get_item(
            TableName=self.table, Key=job_key(job_id), ConsistentRead=True, ProjectionExpression="written, sent"
        )["Item"]
        return int(item["written"]["N"]), int(item["sent"]["N"])

    def write_tasks(self, job_id: str, records: list[TaskRecord], written_upto: int) -> None:
        requests = [{"PutRequest": {"Item": _task_item(record)}} for record in records]
        for start in range(0, len(requests), BATCH_WRITE):
            self._batch_write(requests[start : start + BATCH_WRITE])
        self._set_cursor(job_id, "written", written_upto)

    def mark_sent(self, job_id: str, sent_upto: int) -> None:
        self._set_cursor(job_id, "sent", sent_upto)

    def _set_cursor(self, job_id: str, name: str, value: int) -> None:
        self._ddb.update_item(
            TableName=self.table,
            Key=job_key(job_id),
            UpdateExpression="SET #cursor = :value",
            ExpressionAttributeNames={"#cursor": name},
            ExpressionAttributeValues={":value": _av(value)},
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

    def list_tasks(
        self, job_id: str, *, status: TaskStatus | None, limit: int, next_token: str | None
    ) -> TaskPage:
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _av(f"JOB#{job_id}"), ":prefix": _av(TASK_PREFIX)},
            "Limit": limit,
        }
        if status is not None:
            query["FilterExpression"] = "#status = :status"
            query["ExpressionAttributeNames"] = {"#status": "status"}
            query["ExpressionAttributeValues"][":status"] = _av(status.value)
        if next_token:
            query["ExclusiveStartKey"] = task_key(job_id, _decode_token(next_token))
        items: list[TaskRecord] = []
        while True:
            response = self._ddb.query(**query)
            items += [_task(item) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            if not last or len(items) >= limit:
                break
            query["ExclusiveStartKey"] = last
            query["Limit"] = limit - len(items)
        token = _encode_token(last["sk"]["S"][len(TASK_PREFIX) :]) if last else None
        return TaskPage(items=items, next_token=token)

    def get_task(self, job_id: str, task_id: str) -> TaskRecord | None:
        item = self._ddb.get_item(TableName=self.table, Key=task_key(job_id, task_id), ConsistentRead=True)
        return _task(item["Item"]) if "Item" in item else None

    def mark_running(self, message: TaskMessage, attempt: int) -> bool:
        """Claim the task for this attempt; False when it is already final or a newer attempt holds it."""
        now = _av(now_iso())
        fresh = {
            "Update": {
                "TableName": self.table,
                "Key": task_key(message.job_id, message.task_id),
                "UpdateExpression": "SET #status = :running, attempts = :attempt, started_at = :now, updated_at = :now",
                "ConditionExpression": "#status = :pending AND (attribute_not_exists(attempts) OR attempts < :attempt)",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":running": _av("RUNNING"), ":pending": _av("PENDING"), ":attempt": _av(attempt), ":now": now,
                },
            }
        }
        counter = {
            "Update": {
                "TableName": self.table,
                "Key": job_key(message.job_id),
                "UpdateExpression": "ADD running :one SET updated_at = :now",
                "ExpressionAttributeValues": {":one": _av(1), ":now": now},
            }
        }
        try:
            self._transact([fresh, counter])
            return True
        except _Cancelled:
            pass
        # A redelivery after a worker died: the task is still RUNNING under an older attempt.
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=task_key(message.job_id, message.task_id),
                UpdateExpression="SET attempts = :attempt, started_at = :now, updated_at = :now",
                ConditionExpression="#status = :running AND attempts < :attempt",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":running": _av("RUNNING"), ":attempt": _av(attempt), ":now": now},
            )
            return True
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False

    def record_progress(self, job_id: str, task_id: str, attempt: int, progress: float, note: str | None) -> bool:
        """Land a heartbeat in the task record; False once this attempt no longer owns the task."""
        values = {
            ":running": _av("RUNNING"), ":attempt": _av(attempt), ":now": _av(now_iso()),
            ":progress": _av(str(max(0.0, min(1.0, progress)))), ":note": _av(note[:500] if note else None),
        }
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=task_key(job_id, task_id),
                UpdateExpression="SET progress = :progress, progress_message = :note, heartbeat_at = :now",
                ConditionExpression="#status = :running AND attempts = :attempt",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # --- outcomes ---------------------------------------------------------------------------------------

    def record_outcomes(self, job_id: str, outcomes: list[TaskOutcome]) -> CommitResult:
        result = CommitResult()
        for start in range(0, len(outcomes), TASKS_PER_TRANSACTION):
            chunk = self._commit_chunk(job_id, outcomes[start : start + TASKS_PER_TRANSACTION])
            result.applied += chunk.applied
            result.stale += chunk.stale
            result.finished_job = result.finished_job or chunk.finished_job
        return result

    def _commit_chunk(self, job_id: str, outcomes: list[TaskOutcome]) -> CommitResult:
        """One transaction: the task updates and the job's counter deltas.

        The job update carries `remaining > n` so that a commit never learns only later that it was the
        last; when that check fails, the commit retries with `remaining = n` and, if it succeeds, it is the
        one commit that finished the job.
        """
        live = list(outcomes)
        stale: list[TaskOutcome] = []
        finishing = False
        for round_ in range(MAX_COMMIT_ROUNDS):
            if not live:
                return CommitResult(stale=stale)
            items = [self._task_update(o) for o in live]
            job_update = self._job_update(job_id, live, finishing)
            if job_update:
                items.append(job_update)
            try:
                self._transact(items)
                return CommitResult(applied=live, stale=stale, finished_job=finishing)
            except _Cancelled as cancelled:
                codes = cancelled.codes
                refused = [o for o, code in zip(live, codes, strict=False) if code == "ConditionalCheckFailed"]
                if refused:
                    stale += refused
                    live = [o for o in live if o not in refused]
                    finishing = False
                elif job_update and codes[len(live)] == "ConditionalCheckFailed":
                    finishing = not finishing
                else:
                    time.sleep(random.uniform(0, 0.02 * 2 ** min(round_, 6)))
        raise RuntimeError(f"could not commit {len(live)} outcomes of job {job_id} in {MAX_COMMIT_ROUNDS} rounds")

    def _task_update(self, outcome: TaskOutcome) -> dict[str, Any]:
        now = now_iso()
        status = TaskStatus.PENDING if outcome.kind is OutcomeKind.RETRY else TaskStatus(outcome.kind.value)
        entry = {"attempt": outcome.attempt, "status": status.value, "finished_at": now}
        values: dict[str, Any] = {
            ":status": _av(status.value),
            ":attempt": _av(outcome.attempt),
            ":now": _av(now),
            ":entry": _av([{**entry, "error": outcome.error} if outcome.error else entry]),
            ":empty": _av([]),
        }
        sets = [
            "#status = :status", "attempts = :attempt", "updated_at = :now",
            "history = list_append(if_not_exists(history, :empty), :entry)",
        ]
        if outcome.error is not None:
            sets.append("#error = :error")
            values[":error"] = _av(outcome.error[:4000])
        if outcome.kind is OutcomeKind.SUCCEEDED:
            sets.append("result_json = :result")
            values[":result"] = _av(json.dumps(outcome.result))
        if outcome.is_final:
            sets.append("finished_at = :now")
        if outcome.from_running:
            condition = "#status = :was AND attempts = :attempt"
            values[":was"] = _av(TaskStatus.RUNNING.value)
        else:
            condition = "#status = :was AND (attribute_not_exists(attempts) OR attempts < :attempt)"
            values[":was"] = _av(TaskStatus.PENDING.value)
        # A success clears the last attempt's error; the history keeps it.
        removes = " REMOVE #error" if outcome.kind is OutcomeKind.SUCCEEDED else ""
        return {
            "Update": {
                "TableName": self.table,
                "Key": task_key(outcome.job_id, outcome.task_id),
                "UpdateExpression": "SET " + ", ".join(sets) + removes,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
                "ExpressionAttributeValues": values,
            }
        }

    def _job_update(self, job_id: str, outcomes: list[TaskOutcome], finishing: bool) -> dict[str, Any] | None:
        finals = sum(o.is_final for o in outcomes)
        deltas = {
            "remaining": -finals,
            "succeeded": sum(o.kind is OutcomeKind.SUCCEEDED for o in outcomes),
            "failed": sum(o.kind is OutcomeKind.FAILED for o in outcomes),
            "running": -sum(o.from_running for o in outcomes),
        }
        deltas = {name: delta for name, delta in deltas.items() if delta}
        if not deltas:
            return None
        values = {f":{name}": _av(delta) for name, delta in deltas.items()}
        values[":now"] = _av(now_iso())
        update = "ADD " + ", ".join(f"{name} :{name}" for name in deltas) + " SET updated_at = :now"
        condition = None
        if finals:
            values[":finals"] = _av(finals)
            condition = "remaining = :finals" if finishing else "remaining > :finals"
        job_update: dict[str, Any] = {
            "TableName": self.table,
            "Key": job_key(job_id),
            "UpdateExpression": update,
            "ExpressionAttributeValues": values,
        }
        if condition:
            job_update["ConditionExpression"] = condition
        return {"Update": job_update}

    def _transact(self, items: list[dict[str, Any]]) -> None:
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            raise _Cancelled([r.get("Code", "None") for r in reasons] + ["None"] * (len(items) - len(reasons)))

    # --- resuming the workflow --------------------------------------------------------------------------

    def save_resume_token(self, job_id: str, token: str) -> Job:
        item = self._ddb.update_item(
            TableName=self.table,
            Key=job_key(job_id),
            UpdateExpression="SET task_token = :token, updated_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":token": _av(token), ":now": _av(now_iso())},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return _job(item)

    def claim_resume(self, job_id: str) -> str | None:
        try:
            item = self._ddb.update_item(
                TableName=self.table,
                Key=job_key(job_id),
                UpdateExpression="SET resumed = :yes",
                ConditionExpression="attribute_exists(task_token) AND attribute_not_exists(resumed) AND remaining = :zero",
                ExpressionAttributeValues={":yes": _av(True), ":zero": _av(0)},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return None
        return str(item["task_token"]["S"])


class _Cancelled(Exception):
    def __init__(self, codes: list[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


def _job(item: dict[str, Any]) -> Job:
    plain = _plain(item)
    return Job(
        job_id=plain["job_id"],
        tenant=plain["tenant"],
        name=plain["name"],
        status=JobStatus(plain["status"]),
        created_at=plain["created_at"],
        updated_at=plain["updated_at"],
        total=int(plain["total"]),
        remaining=int(plain["remaining"]),
        running=int(plain.get("running", 0)),
        succeeded=int(plain.get("succeeded", 0)),
        failed=int(plain.get("failed", 0)),
        cancelled=int(plain.get("cancelled", 0)),
        tolerated_failure_percentage=float(plain.get("tolerated_failure_percentage", 0)),
        metadata=json.loads(plain.get("metadata_json", "{}")),
    )


def _task_item(record: TaskRecord) -> dict[str, Any]:
    return {
        **task_key(record.job_id, record.task_id),
        "job_id": _av(record.job_id),
        "task_id": _av(record.task_id),
        "idx": _av(record.index),
        "type": _av(record.type),
        "runtime": _av(record.runtime.value),
        "status": _av(record.status.value),
        "payload_json": _av(json.dumps(record.payload)),
        "created_at": _av(record.created_at),
        "updated_at": _av(record.updated_at),
    }


def _task(item: dict[str, Any]) -> TaskRecord:
    plain = _plain(item)
    return TaskRecord(
        job_id=plain["job_id"],
        task_id=plain["task_id"],
        index=int(plain["idx"]),
        type=plain["type"],
        runtime=plain["runtime"],
        status=TaskStatus(plain["status"]),
        attempts=int(plain.get("attempts", 0)),
        payload=json.loads(plain.get("payload_json", "{}")),
        result=json.loads(plain["result_json"]) if "result_json" in plain else None,
        error=plain.get("error"),
        progress=float(plain["progress"]) if plain.get("progress") is not None else None,
        progress_message=plain.get("progress_message"),
        history=[{**h, "attempt": int(h["attempt"])} for h in plain.get("history", [])],
        created_at=plain["created_at"],
        updated_at=plain["updated_at"],
    )


def _encode_token(task_id: str) -> str:
    return base64.urlsafe_b64encode(task_id.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("next_token is not a token this API returned") from exc
