"""Task transitions committed exactly once, with their shards' counters in the same transaction.

Every transition is conditional: from the status it expects, and (for attempts) only by an attempt not
older than the recorded one. Refused task updates are duplicates or late finishers: the transaction is
retried without them and counts nothing for them.

Counters live in one item per shard (tasklane/aws/dynamo_items.py). A counter update that lowers a shard's
`remaining` by n carries `remaining > n`; when DynamoDB refuses that, the commit retries with `remaining = n`
and also lowers the head's `shards_left`, under `shards_left > f` or, the same way, `shards_left = f`. The
one commit that takes `shards_left` to 0 finished the job. Reopening tasks raises counters the same way,
and a shard whose `remaining` leaves 0 raises `shards_left` again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws.dynamo_items import COUNT_SK, av, counter_key, dead_letter_item, index_of, job_key, shard_of, task_key
from tasklane.aws.dynamo_retry import cancellation_codes
from tasklane.clock import now_iso
from tasklane.dead_letters import UNROUTED_TENANT, DeadLetter, fingerprint
from tasklane.models import TaskMessage, TaskStatus
from tasklane.ports import CommitResult

# DynamoDB takes 100 items per transaction; some are counters and, at a shard's end, the job's head.
MAX_TRANSACTION_ITEMS = 100
MAX_COMMIT_ROUNDS = 20
REFUSED = "ConditionalCheckFailed"


class Cancelled(Exception):
    """A transaction DynamoDB cancelled; `codes` has one reason per item, in order."""

    def __init__(self, codes: list[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


@dataclass
class Counting:
    """The counter updates of one transaction, and what they tell once DynamoDB has judged them.

    `deltas` are per shard; `crossing` are the shards whose `remaining` this write is guessed to take to 0
    (or, when it rises, up from 0); `finishing` guesses that the head's `shards_left` reaches 0. A refused
    guess is flipped and the transaction tried again.
    """

    table: str
    job_id: str
    deltas: dict[int, dict[str, int]]
    crossing: set[int] = field(default_factory=set)
    finishing: bool = False
    # Extra SET clause and condition on the head, with their values (a cancel of unwritten tasks).
    head_set: str = ""
    head_condition: str = ""
    head_values: dict[str, Any] = field(default_factory=dict)
    # The head's `shards_left` as last read; -1 when not read.
    shards_left: int = -1

    def _rising(self, shard: int) -> bool:
        return self.deltas[shard].get("remaining", 0) > 0

    def items(self) -> list[dict[str, Any]]:
        now = av(now_iso())
        items = []
        for shard, deltas in sorted(self.deltas.items()):
            deltas = {name: delta for name, delta in deltas.items() if delta}
            values = {f":{name}": av(delta) for name, delta in deltas.items()}
            values[":now"] = now
            update: dict[str, Any] = {
                "TableName": self.table,
                "Key": counter_key(self.job_id, shard),
                "UpdateExpression": " ".join(
                    (["ADD " + ", ".join(f"{name} :{name}" for name in deltas)] if deltas else [])
                    + ["SET updated_at = :now"]
                ),
                "ExpressionAttributeValues": values,
            }
            change = abs(deltas.get("remaining", 0))
            if change:
                values[":change"] = av(0 if self._rising(shard) else change)
                crossing = shard in self.crossing
                update["ConditionExpression"] = "remaining = :change" if crossing else "remaining > :change"
            items.append({"Update": update})
        head = self.head_update(now)
        return items + ([head] if head else [])

    def head_update(self, now: dict[str, Any]) -> dict[str, Any] | None:
        crossed = sum(-1 if not self._rising(s) else 1 for s in self.crossing)
        if not crossed and not self.head_set:
            return None
        values = {":now": now, **self.head_values}
        sets = ["updated_at = :now"] + ([self.head_set] if self.head_set else [])
        conditions = [self.head_condition] if self.head_condition else []
        update = "SET " + ", ".join(sets)
        if crossed:
            values[":crossed"] = av(crossed)
            update += " ADD shards_left :crossed"
        if crossed < 0:
            values[":ends"] = av(-crossed)
            conditions.append("shards_left = :ends" if self.finishing else "shards_left > :ends")
        head: dict[str, Any] = {
            "TableName": self.table, "Key": job_key(self.job_id), "UpdateExpression": update,
            "ExpressionAttributeValues": values,
        }
        if conditions:
            head["ConditionExpression"] = " AND ".join(conditions)
        return {"Update": head}

    def guess(self, remaining: dict[int, int], shards_left: int) -> None:
        """Guess from the counters as just read. A wrong guess costs a cancelled transaction, billed like a
        done one for every item in it; only a race with another commit near a shard's end makes one."""

        def crosses(shard: int) -> bool:
            change = self.deltas[shard].get("remaining", 0)
            return change != 0 and remaining.get(shard) == (0 if change > 0 else -change)

        self.crossing = {shard for shard in self.deltas if crosses(shard)}
        self.shards_left = shards_left
        self._guess_finishing()

    def _guess_finishing(self) -> None:
        ending = [s for s in self.crossing if not self._rising(s)]
        self.finishing = bool(ending) and self.shards_left == len(ending)

    def flip(self, codes: list[str]) -> bool:
        """Turn each refused guess (`codes` are those of items(), in order); False when none was refused."""
        shards = sorted(self.deltas)
        refused = {s for s, code in zip(shards, codes, strict=False) if code == REFUSED}
        self.crossing ^= refused
        head_refused = len(codes) > len(shards) and codes[len(shards)] == REFUSED
        if head_refused and not refused:
            self.finishing = not self.finishing
        elif refused:
            self._guess_finishing()  # the set of ending shards changed: so does the head's guess
        return bool(refused) or head_refused

    @property
    def finished(self) -> bool:
        """True once the transaction succeeded with these guesses and they took `shards_left` to 0."""
        return self.finishing and any(not self._rising(s) for s in self.crossing)


def counter_deltas(outcomes: list[TaskOutcome], shards: int) -> dict[int, dict[str, int]]:
    deltas: dict[int, Counter[str]] = {}
    for o in outcomes:
        d = deltas.setdefault(shard_of(index_of(o.task_id) or 0, shards), Counter())
        d["remaining"] -= o.is_final
        d["succeeded"] += o.kind is OutcomeKind.SUCCEEDED
        d["failed"] += o.kind is OutcomeKind.FAILED
        d["cancelled"] += o.kind is OutcomeKind.CANCELLED
        d["running"] -= o.from_running
    return {shard: dict(d) for shard, d in deltas.items() if any(d.values())}


class OutcomeCommits:
    table: str
    _ddb: Any

    def shards(self, job_id: str) -> int | None: ...

    _batch_get: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]

    def _counters_now(self, job_id: str, shards: list[int]) -> tuple[dict[int, int], int]:
        """The shards' `remaining` and the head's `shards_left`, read consistently in one request."""
        items = self._batch_get([job_key(job_id), *(counter_key(job_id, shard) for shard in shards)])
        remaining = {}
        shards_left = -1
        for item in items:
            if item["sk"]["S"] == COUNT_SK:
                remaining[int(item["pk"]["S"].rpartition("#")[2])] = int(item["remaining"]["N"])
            else:
                shards_left = int(item["shards_left"]["N"])
        return remaining, shards_left

    def transact(self, items: list[dict[str, Any]]) -> None:
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            codes = cancellation_codes(error)
            raise Cancelled(codes + ["None"] * (len(items) - len(codes))) from None

    def record_outcomes(self, job_id: str, outcomes: list[TaskOutcome]) -> CommitResult:
        shards = self.shards(job_id)
        if shards is None:  # no such job: none of its tasks can move
            return CommitResult(stale=list(outcomes))
        result = CommitResult()
        for wave in _one_per_task(outcomes):
            for chunk in _chunks(wave, shards):
                committed = self._commit_chunk(job_id, shards, chunk)
                result.applied += committed.applied
                result.stale += committed.stale
                result.finished_job = result.finished_job or committed.finished_job
        return result

    def _commit_chunk(self, job_id: str, shards: int, outcomes: list[TaskOutcome]) -> CommitResult:
        live = list(outcomes)
        stale: list[TaskOutcome] = []
        counting = Counting(self.table, job_id, counter_deltas(live, shards))
        ending = [shard for shard, deltas in counting.deltas.items() if deltas.get("remaining")]
        now = self._counters_now(job_id, ending) if ending else ({}, -1)
        counting.guess(*now)
        for _ in range(MAX_COMMIT_ROUNDS):
            if not live:
                return CommitResult(stale=stale)
            items = [self._task_update(o, shards) for o in live] + counting.items()
            items += [{"Put": {"TableName": self.table, "Item": dead_letter_item(d)}} for d in _dead_letters(live)]
            try:
                self.transact(items)
                return CommitResult(applied=live, stale=stale, finished_job=counting.finished)
            except Cancelled as cancelled:
                codes = cancelled.codes
                refused = [o for o, code in zip(live, codes, strict=False) if code == REFUSED]
                if refused:
                    stale += refused
                    live = [o for o in live if o not in refused]
                    counting = Counting(self.table, job_id, counter_deltas(live, shards))
                    counting.guess(*now)
                elif not counting.flip(codes[len(live) :]):
                    raise  # neither a refused task nor a wrong guess: contention that outlasted its retries
        raise RuntimeError(f"could not commit {len(live)} outcomes of job {job_id} in {MAX_COMMIT_ROUNDS} rounds")

    def _task_update(self, outcome: TaskOutcome, shards: int) -> dict[str, Any]:
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
                "Key": task_key(outcome.job_id, outcome.task_id, shards),
                "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def mark_running(self, message: TaskMessage, attempt: int) -> bool:
        """Claim the task for this attempt; False when it is final, held by a newer attempt, or its job stops."""
        shards = self.shards(message.job_id)
        if shards is None:
            return False
        now = av(now_iso())
        key = task_key(message.job_id, message.task_id, shards)
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
                "Key": key,
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
                "Key": counter_key(message.job_id, shard_of(index_of(message.task_id) or 0, shards)),
                "UpdateExpression": "ADD running :one SET updated_at = :now",
                "ExpressionAttributeValues": {":one": av(1), ":now": now},
            }
        }
        # Conflicts and throttles were ridden out below (dynamo_retry.py): a refusal here is the task's own.
        try:
            self.transact([fresh, counter])
            return self._job_not_stopping(not_stopping)
        except Cancelled as cancelled:
            if cancelled.codes[0] != REFUSED:
                raise
        # A redelivery after a worker died: the task is still RUNNING under an older attempt.
        retake = {
            "Update": {
                "TableName": self.table,
                "Key": key,
                "UpdateExpression": "SET attempts = :attempt, started_at = :now, updated_at = :now",
                "ConditionExpression": "#status = :running AND attempts < :attempt",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":running": av("RUNNING"), ":attempt": av(attempt), ":now": now},
            }
        }
        try:
            self.transact([retake, not_stopping])
            return True
        except Cancelled as cancelled:
            if REFUSED not in cancelled.codes:
                raise
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
        shards = self.shards(job_id)
        if shards is None:
            return False
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=task_key(job_id, task_id, shards),
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
            # A failure without an attempt is a message SQS dead-lettered (tasklane/dead_letter_intake.py),
            # not a task's.
            source="task" if o.attempt is not None else "queue", dead_at=now,
        )
        for o in outcomes
        if o.kind is OutcomeKind.FAILED
    ]


def _chunks(outcomes: list[TaskOutcome], shards: int) -> list[list[TaskOutcome]]:
    """Split so each transaction stays within DynamoDB's item limit: a task, its dead letter if it failed,
    one counter per shard it touches, and the head in case it ends a shard."""
    chunks: list[list[TaskOutcome]] = []
    current: list[TaskOutcome] = []
    touched: set[int] = set()
    items = 1  # the head
    for outcome in outcomes:
        shard = shard_of(index_of(outcome.task_id) or 0, shards)
        cost = (2 if outcome.kind is OutcomeKind.FAILED else 1) + (shard not in touched)
        if items + cost > MAX_TRANSACTION_ITEMS:
            chunks.append(current)
            current, items, touched = [], 1, set()
            cost = (2 if outcome.kind is OutcomeKind.FAILED else 1) + 1
        current.append(outcome)
        touched.add(shard)
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
