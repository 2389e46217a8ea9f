"""Task transitions committed exactly once, with the job's counters in the same transaction.

Every transition is conditional: from the status it expects, and (for attempts) only by an attempt not
older than the recorded one. The job update carries `remaining > n`, so a commit knows at once whether
it was the last: when that check fails the commit retries with `remaining = n`, and the one commit that
succeeds that way finished the job. Refused task updates are duplicates or late finishers: the
transaction is retried without them and counts nothing for them.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from botocore.exceptions import ClientError

from tasklane.aws.dynamo_items import av, dead_letter_item, job_key, task_key
from tasklane.clock import now_iso
from tasklane.dead_letters import UNROUTED_TENANT, DeadLetter, fingerprint
from tasklane.execution import OutcomeKind, TaskOutcome
from tasklane.models import TaskMessage, TaskStatus
from tasklane.ports import CommitResult

# DynamoDB takes 100 items per transaction; one is the job's counter item.
MAX_TRANSACTION_ITEMS = 100
MAX_COMMIT_ROUNDS = 20


class Cancelled(Exception):
    """A transaction DynamoDB cancelled; `codes` has one reason per item, in order."""

    def __init__(self, codes: list[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


class OutcomeCommits:
    table: str
    _ddb: Any

    def transact(self, items: list[dict[str, Any]]) -> None:
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            raise Cancelled([r.get("Code", "None") for r in reasons] + ["None"] * (len(items) - len(reasons))) from None

    def record_outcomes(self, job_id: str, outcomes: list[TaskOutcome]) -> CommitResult:
        result = CommitResult()
        for wave in _one_per_task(outcomes):
            for chunk in _chunks(wave):
                committed = self._commit_chunk(job_id, chunk)
                result.applied += committed.applied
                result.stale += committed.stale
                result.finished_job = result.finished_job or committed.finished_job
        return result

    def _commit_chunk(self, job_id: str, outcomes: list[TaskOutcome]) -> CommitResult:
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
            items += [{"Put": {"TableName": self.table, "Item": dead_letter_item(d)}} for d in _dead_letters(live)]
            try:
                self.transact(items)
                return CommitResult(applied=live, stale=stale, finished_job=finishing)
            except Cancelled as cancelled:
                codes = cancelled.codes
                refused = [o for o, code in zip(live, codes, strict=False) if code == "ConditionalCheckFailed"]
                if refused:
                    stale += refused
                    live = [o for o in live if o not in refused]
                    finishing = False
                elif job_update and codes[len(live)] == "ConditionalCheckFailed":
                    finishing = not finishing
                else:  # a conflict with a concurrent transaction on the job item: back off and retry
                    time.sleep(random.uniform(0, 0.02 * 2 ** min(round_, 6)))
        raise RuntimeError(f"could not commit {len(live)} outcomes of job {job_id} in {MAX_COMMIT_ROUNDS} rounds")

    def _task_update(self, outcome: TaskOutcome) -> dict[str, Any]:
        now = now_iso()
        status = TaskStatus.PENDING if outcome.kind is OutcomeKind.RETRY else TaskStatus(outcome.kind.value)
        values: dict[str, Any] = {":status": av(status.value), ":now": av(now)}
        names = {"#status": "status"}
        sets = ["#status = :status", "updated_at = :now"]
        removes = []
        # A task's first attempt (attempts count across runs) has no history or error to keep: the common
        # case gets the shortest update, which is also what a task costs most of all to commit.
        first = outcome.attempt == 1 and not outcome.from_running
        if outcome.attempt is not None:
            entry = {"attempt": outcome.attempt, "status": status.value, "finished_at": now}
            values[":attempt"] = av(outcome.attempt)
            values[":entry"] = av([{**entry, "error": outcome.error} if outcome.error else entry])
            if first:
                sets += ["attempts = :attempt", "history = :entry"]
            else:
                values[":empty"] = av([])
                sets += ["attempts = :attempt", "history = list_append(if_not_exists(history, :empty), :entry)"]
        if outcome.error is not None:
            sets.append("#error = :error")
            values[":error"] = av(outcome.error[:4000])
            names["#error"] = "error"
        if outcome.kind is OutcomeKind.SUCCEEDED:
            sets.append("result_json = :result")
            values[":result"] = av(json.dumps(outcome.result))
            if not first:
                removes.append("#error")  # a success clears the last attempt's error; the history keeps it
                names["#error"] = "error"
        values[":was"] = av((TaskStatus.RUNNING if outcome.from_running else TaskStatus.PENDING).value)
        if outcome.attempt is None:
            condition = "#status = :was"
        elif outcome.from_running:
            condition = "#status = :was AND attempts = :attempt"
        elif first:
            condition = "#status = :was AND attribute_not_exists(attempts)"
        else:
            condition = "#status = :was AND (attribute_not_exists(attempts) OR attempts < :attempt)"
        return {
            "Update": {
                "TableName": self.table,
                "Key": task_key(outcome.job_id, outcome.task_id),
                "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _job_update(self, job_id: str, outcomes: list[TaskOutcome], finishing: bool) -> dict[str, Any] | None:
        finals = sum(o.is_final for o in outcomes)
        deltas = {
            "remaining": -finals,
            "succeeded": sum(o.kind is OutcomeKind.SUCCEEDED for o in outcomes),
            "failed": sum(o.kind is OutcomeKind.FAILED for o in outcomes),
            "cancelled": sum(o.kind is OutcomeKind.CANCELLED for o in outcomes),
            "running": -sum(o.from_running for o in outcomes),
        }
        deltas = {name: delta for name, delta in deltas.items() if delta}
        if not deltas:
            return None
        values = {f":{name}": av(delta) for name, delta in deltas.items()}
        values[":now"] = av(now_iso())
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": job_key(job_id),
            "UpdateExpression": "ADD " + ", ".join(f"{name} :{name}" for name in deltas) + " SET updated_at = :now",
            "ExpressionAttributeValues": values,
        }
        if finals:
            values[":finals"] = av(finals)
            update["ConditionExpression"] = "remaining = :finals" if finishing else "remaining > :finals"
        return {"Update": update}

    def mark_running(self, message: TaskMessage, attempt: int) -> bool:
        """Claim the task for this attempt; False when it is final, held by a newer attempt, or its job stops."""
        now = av(now_iso())
        not_stopping = {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": job_key(message.job_id),
                "ConditionExpression": "attribute_not_exists(stop_reason)",
            }
        }
        fresh = {
            "Update": {
                "TableName": self.table,
                "Key": task_key(message.job_id, message.task_id),
                "UpdateExpression": "SET #status = :running, attempts = :attempt, started_at = :now, updated_at = :now",
                "ConditionExpression": "#status = :pending AND (attribute_not_exists(attempts) OR attempts < :attempt)",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":running": av("RUNNING"), ":pending": av("PENDING"), ":attempt": av(attempt), ":now": now,
                },
            }
        }
        counter = {
            "Update": {
                "TableName": self.table,
                "Key": job_key(message.job_id),
                "UpdateExpression": "ADD running :one SET updated_at = :now",
                "ExpressionAttributeValues": {":one": av(1), ":now": now},
            }
        }
        try:
            self.transact([fresh, counter])
            return self._job_not_stopping(not_stopping)
        except Cancelled as cancelled:
            if cancelled.codes[0] != "ConditionalCheckFailed":
                raise
        # A redelivery after a worker died: the task is still RUNNING under an older attempt.
        retake = {
            "Update": {
                "TableName": self.table,
                "Key": task_key(message.job_id, message.task_id),
                "UpdateExpression": "SET attempts = :attempt, started_at = :now, updated_at = :now",
                "ConditionExpression": "#status = :running AND attempts < :attempt",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":running": av("RUNNING"), ":attempt": av(attempt), ":now": now},
            }
        }
        try:
            self.transact([retake, not_stopping])
            return True
        except Cancelled:
            return False

    def _job_not_stopping(self, check: dict[str, Any]) -> bool:
        """True unless the job is stopping, in which case the task is left RUNNING for the stop step."""
        item = self._ddb.get_item(
            TableName=self.table, Key=check["ConditionCheck"]["Key"], ConsistentRead=True,
            ProjectionExpression="stop_reason",
        ).get("Item", {})
        return "stop_reason" not in item

    def record_progress(self, job_id: str, task_id: str, attempt: int, progress: float, note: str | None) -> bool:
        """Land a heartbeat in the task record; False once this attempt no longer owns the task."""
        values = {
            ":running": av("RUNNING"), ":attempt": av(attempt), ":now": av(now_iso()),
            ":progress": av(str(max(0.0, min(1.0, progress)))), ":note": av(note[:500] if note else None),
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


def _dead_letters(outcomes: list[TaskOutcome]) -> list[DeadLetter]:
    now = now_iso()
    return [
        DeadLetter(
            tenant=o.tenant or UNROUTED_TENANT, fingerprint=fingerprint(o.task_type, o.error), job_id=o.job_id,
            task_id=o.task_id, task_type=o.task_type, error=o.error or "",
            # A failure without an attempt is a message SQS dead-lettered (tasklane/draining.py), not a task's.
            source="task" if o.attempt is not None else "queue", dead_at=now,
        )
        for o in outcomes
        if o.kind is OutcomeKind.FAILED
    ]


def _chunks(outcomes: list[TaskOutcome]) -> list[list[TaskOutcome]]:
    """Split so each transaction stays within DynamoDB's item limit (a failure also writes a dead letter)."""
    chunks: list[list[TaskOutcome]] = []
    current: list[TaskOutcome] = []
    items = 1  # the job's counter item
    for outcome in outcomes:
        cost = 2 if outcome.kind is OutcomeKind.FAILED else 1
        if items + cost > MAX_TRANSACTION_ITEMS:
            chunks.append(current)
            current, items = [], 1
        current.append(outcome)
        items += cost
    if current:
        chunks.append(current)
    return chunks


def _one_per_task(outcomes: list[TaskOutcome]) -> list[list[TaskOutcome]]:
    """Split outcomes so no task appears twice in one wave, keeping their order.

    A transaction may touch an item only once (DynamoDB refuses the whole call otherwise), so a duplicate
    delivery that lands in the same batch as the original is committed after it, and found stale there.
    """
    waves: list[list[TaskOutcome]] = []
    seen: dict[tuple[str, str], int] = {}
    for outcome in outcomes:
        key = (outcome.job_id, outcome.task_id)
        wave = seen.get(key, 0)
        seen[key] = wave + 1
        if wave == len(waves):
            waves.append([])
        waves[wave].append(outcome)
    return waves
