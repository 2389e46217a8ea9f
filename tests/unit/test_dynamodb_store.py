"""DynamoJobStore on moto: conditional task transitions, counters in the same transaction, one finisher."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from fakes import Spy

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws.dynamodb_store import DynamoJobStore, job_key
from tasklane.errors import InvalidRequest
from tasklane.models import Job, JobStatus, Runtime, TaskMessage, TaskRecord, TaskStatus, task_id_for

NOW = "2026-01-01T00:00:00.000Z"


def new_job(store: DynamoJobStore, job_id: str = "job1", tasks: int = 3, tenant: str = "acme", **extra: Any) -> Job:
    job = Job(
        job_id=job_id, tenant=tenant, name=f"name-{job_id}", status=JobStatus.PENDING, created_at=NOW,
        updated_at=NOW, total=tasks, remaining=tasks, **extra,
    )
    store.create_job(job)
    records = [
        TaskRecord(
            job_id=job_id, task_id=task_id_for(i), index=i, type="echo", runtime=Runtime.LAMBDA,
            status=TaskStatus.PENDING, payload={"i": i}, created_at=NOW, updated_at=NOW,
        )
        for i in range(tasks)
    ]
    if records:
        store.write_tasks(job_id, records, written_upto=tasks)
    return job


def outcome(index: int, kind: OutcomeKind = OutcomeKind.SUCCEEDED, attempt: int = 1, job_id: str = "job1",
            **fields: Any) -> TaskOutcome:
    if kind is OutcomeKind.SUCCEEDED and "result" not in fields:
        fields["result"] = {"i": index}
    if kind is not OutcomeKind.SUCCEEDED and "error" not in fields:
        fields["error"] = "TaskFailure: boom"
    return TaskOutcome(job_id=job_id, task_id=task_id_for(index), attempt=attempt, kind=kind, **fields)


def msg(index: int, job_id: str = "job1") -> TaskMessage:
    return TaskMessage(job_id=job_id, task_id=task_id_for(index), type="sleep", payload={})


def counters(store: DynamoJobStore, job_id: str = "job1") -> dict[str, int]:
    job = store.get_job(job_id)
    assert job is not None
    return {"remaining": job.remaining, "running": job.running, "succeeded": job.succeeded, "failed": job.failed}


# --- jobs ---------------------------------------------------------------------------------------------


def test_create_and_get_job_round_trips(store: DynamoJobStore, ddb: Any, table: str) -> None:
    created = new_job(store, tasks=2, metadata={"team": "x"}, tolerated_failure_percentage=12.5)
    got = store.get_job("job1")
    assert got == created.model_copy(update={"running": 0})
    assert got is not None and got.counts.model_dump() == {
        "total": 2, "pending": 2, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0,
    }
    # the job is findable by tenant through the GSI the table declares
    page = ddb.query(
        TableName=table, IndexName="by-tenant", KeyConditionExpression="gsi1pk = :t",
        ExpressionAttributeValues={":t": {"S": "TENANT#acme"}},
    )
    assert [i["job_id"]["S"] for i in page["Items"]] == ["job1"]


def test_get_missing_job_is_none(store: DynamoJobStore) -> None:
    assert store.get_job("nope") is None


def test_create_job_twice_is_refused(store: DynamoJobStore, ddb: Any) -> None:
    new_job(store, tasks=0)
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        new_job(store, tasks=0)


def test_set_job_status_only_from_the_allowed_statuses(store: DynamoJobStore) -> None:
    new_job(store, tasks=1)
    assert store.set_job_status("job1", JobStatus.RUNNING, only_from=(JobStatus.PENDING,))
    assert not store.set_job_status("job1", JobStatus.RUNNING, only_from=(JobStatus.PENDING,))
    assert store.get_job("job1").status is JobStatus.RUNNING  # type: ignore[union-attr]
    assert not store.set_job_status("missing", JobStatus.RUNNING, only_from=(JobStatus.PENDING,))


def test_dispatch_cursor_moves_with_writes_and_sends(store: DynamoJobStore) -> None:
    new_job(store, tasks=0)
    assert store.dispatch_cursor("job1") == (0, 0)
    store.write_tasks("job1", [], written_upto=5)
    store.mark_sent("job1", 3)
    assert store.dispatch_cursor("job1") == (5, 3)


# --- listing tasks ------------------------------------------------------------------------------------


def test_write_tasks_then_read_them_back(store: DynamoJobStore) -> None:
    new_job(store, tasks=30)  # more than one BatchWriteItem of 25
    task = store.get_task("job1", task_id_for(29))
    assert task is not None
    assert (task.index, task.type, task.runtime, task.status, task.payload) == (
        29, "echo", Runtime.LAMBDA, TaskStatus.PENDING, {"i": 29}
    )
    assert store.get_task("job1", "t99999999") is None


def test_list_tasks_pages_through_every_task_in_order(store: DynamoJobStore) -> None:
    new_job(store, tasks=7)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = store.list_tasks("job1", status=None, limit=3, next_token=token)
        assert len(page.items) <= 3
        seen += [t.task_id for t in page.items]
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert seen == [task_id_for(i) for i in range(7)]
    assert pages == 3


def test_list_tasks_does_not_return_the_job_item_or_another_jobs_tasks(store: DynamoJobStore) -> None:
    new_job(store, "job1", tasks=2)
    new_job(store, "job2", tasks=2)
    page = store.list_tasks("job1", status=None, limit=100, next_token=None)
    assert [(t.job_id, t.task_id) for t in page.items] == [("job1", "t00000000"), ("job1", "t00000001")]
    assert page.next_token is None


def test_list_tasks_filters_by_status_across_pages(store: DynamoJobStore) -> None:
    # Given 10 tasks of which 2, 5 and 8 succeeded
    new_job(store, tasks=10)
    store.record_outcomes("job1", [outcome(2), outcome(5), outcome(8)])
    # When the succeeded ones are listed two at a time
    first = store.list_tasks("job1", status=TaskStatus.SUCCEEDED, limit=2, next_token=None)
    assert [t.task_id for t in first.items] == [task_id_for(2), task_id_for(5)]
    assert first.next_token is not None
    rest: list[str] = []
    token: str | None = first.next_token
    while token:
        page = store.list_tasks("job1", status=TaskStatus.SUCCEEDED, limit=2, next_token=token)
        rest += [t.task_id for t in page.items]
        token = page.next_token
    # Then the filter holds on every page and nothing is lost or repeated
    assert rest == [task_id_for(8)]
    pending = store.list_tasks("job1", status=TaskStatus.PENDING, limit=100, next_token=None)
    assert len(pending.items) == 7
    assert all(t.status is TaskStatus.PENDING for t in pending.items)


@pytest.mark.parametrize("token", ["%%%not-base64", "abc", "dDAwMDAwMDAx\n", "gA=="])
def test_a_garbage_next_token_is_an_invalid_request(store: DynamoJobStore, token: str) -> None:
    new_job(store, tasks=1)
    with pytest.raises(InvalidRequest):
        store.list_tasks("job1", status=None, limit=10, next_token=token)


# --- outcomes -----------------------------------------------------------------------------------------


def test_record_outcomes_moves_counters_exactly(store: DynamoJobStore) -> None:
    new_job(store, tasks=4)
    result = store.record_outcomes("job1", [outcome(0), outcome(1, OutcomeKind.FAILED), outcome(2)])
    assert len(result.applied) == 3
    assert result.stale == []
    assert result.finished_job is False
    assert counters(store) == {"remaining": 1, "running": 0, "succeeded": 2, "failed": 1}
    done = store.get_task("job1", task_id_for(0))
    failed = store.get_task("job1", task_id_for(1))
    assert done is not None and failed is not None
    assert (done.status, done.attempts, done.result) == (TaskStatus.SUCCEEDED, 1, {"i": 0})
    assert (failed.status, failed.error) == (TaskStatus.FAILED, "TaskFailure: boom")
    assert [(h.attempt, h.status) for h in failed.history] == [(1, TaskStatus.FAILED)]


def test_a_commit_that_conflicts_with_another_transaction_on_the_job_item_is_retried(store: DynamoJobStore) -> None:
    # Given a commit that DynamoDB first cancels for a conflict with a concurrent transaction on a counter item
    # (as AWS does on a busy item; the embedded AWS never does)
    new_job(store, tasks=3)
    raw = store._ddb._client
    real_transact = raw.transact_write_items
    calls: list[int] = []

    def conflicting_once(**request: Any) -> Any:
        calls.append(len(request["TransactItems"]))
        if len(calls) == 1:
            reasons = [{"Code": "None"}] * (len(request["TransactItems"]) - 1) + [{"Code": "TransactionConflict"}]
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                               "CancellationReasons": reasons}, "TransactWriteItems")
        return real_transact(**request)

    raw.transact_write_items = conflicting_once
    try:
        # When it runs, Then it backs off and commits the same outcomes again, exactly once
        result = store.record_outcomes("job1", [outcome(0), outcome(1)])
    finally:
        raw.transact_write_items = real_transact
    assert calls == [3, 3]
    assert len(result.applied) == 2 and result.stale == [] and result.finished_job is False
    assert counters(store) == {"remaining": 1, "running": 0, "succeeded": 2, "failed": 0}


@pytest.mark.parametrize("attempt", [1, 0])
def test_a_duplicate_outcome_is_stale_and_moves_nothing(store: DynamoJobStore, attempt: int) -> None:
    # Given task 0 succeeded at attempt 1
    new_job(store, tasks=3)
    store.record_outcomes("job1", [outcome(0)])
    before = counters(store)
    # When the same task's outcome arrives again, at the same or a lower attempt, even as a failure
    dup = outcome(0, OutcomeKind.FAILED, attempt=attempt)
    result = store.record_outcomes("job1", [dup])
    # Then it is reported stale and neither the task nor the counters move
    assert result.stale == [dup]
    assert result.applied == []
    assert result.finished_job is False
    assert counters(store) == before
    assert store.get_task("job1", task_id_for(0)).status is TaskStatus.SUCCEEDED  # type: ignore[union-attr]


def test_a_stale_outcome_does_not_block_the_rest_of_its_commit(store: DynamoJobStore) -> None:
    new_job(store, tasks=3)
    store.record_outcomes("job1", [outcome(0)])
    dup = outcome(0)
    result = store.record_outcomes("job1", [dup, outcome(1, OutcomeKind.FAILED)])
    assert result.stale == [dup]
    assert [o.task_id for o in result.applied] == [task_id_for(1)]
    assert counters(store) == {"remaining": 1, "running": 0, "succeeded": 1, "failed": 1}


def test_only_the_commit_that_ends_the_last_task_finishes_the_job(store: DynamoJobStore) -> None:
    # Given a job of 6 tasks committed by several callers in turn
    new_job(store, tasks=6)
    commits = [[outcome(0)], [outcome(1), outcome(2, OutcomeKind.FAILED)], [outcome(3)], [outcome(4), outcome(5)]]
    # When each commits, Then only the one that takes remaining to 0 says it finished the job
    flags = [store.record_outcomes("job1", c).finished_job for c in commits]
    assert flags == [False, False, False, True]
    assert counters(store) == {"remaining": 0, "running": 0, "succeeded": 5, "failed": 1}
    # And a late duplicate of the last task, after the job finished, does not finish it again
    late = store.record_outcomes("job1", [outcome(5)])
    assert late.finished_job is False and late.stale
    assert counters(store)["remaining"] == 0


def test_the_finishing_commit_chooses_its_guards_from_the_counters_and_learns_from_a_cancelled_one(
    table: str, ddb: Any
) -> None:
    # A commit reads its shards' counters and the head first, and guards its updates with what it expects:
    # `remaining > n` or, when it ends the shard, `remaining = n`, and then `shards_left = f` on the head
    spy = Spy(ddb)
    store = DynamoJobStore(table, spy)

    def guards(calls: list[dict[str, Any]]) -> list[list[str]]:
        return [[i["Update"]["ConditionExpression"] for i in c["TransactItems"]
                 if i["Update"]["Key"]["sk"]["S"] in ("COUNT", "JOB")] for c in calls]

    new_job(store, tasks=3)
    created = len(spy.named("transact_write_items"))  # the job's items are created in one transaction
    store.record_outcomes("job1", [outcome(0)])
    assert store.record_outcomes("job1", [outcome(1), outcome(2)]).finished_job is True
    assert guards(spy.named("transact_write_items")[created:]) == [
        ["remaining > :change"], ["remaining = :change", "shards_left = :ends"],
    ]
    # And when a race made its guess wrong (here: its read says a task is still to end that another commit
    # ended since), moto reports the refused guard per item, as DynamoDB does, and the commit flips it
    new_job(store, "job2", tasks=2)
    store.record_outcomes("job2", [outcome(0, job_id="job2")])
    before = len(spy.named("transact_write_items"))
    real_batch_get = store._batch_get
    store._batch_get = lambda keys: [  # type: ignore[method-assign]
        {**i, "remaining": {"N": "2"}} if i["sk"]["S"] == "COUNT" else i for i in real_batch_get(keys)
    ]
    assert store.record_outcomes("job2", [outcome(1, job_id="job2")]).finished_job is True
    assert guards(spy.named("transact_write_items")[before:]) == [
        ["remaining > :change"], ["remaining = :change", "shards_left = :ends"],
    ]


def test_a_commit_mixing_a_duplicate_with_the_last_tasks_still_finishes_the_job(store: DynamoJobStore) -> None:
    # Given 3 tasks with task 0 already done (remaining 2)
    new_job(store, tasks=3)
    store.record_outcomes("job1", [outcome(0)])
    # When one commit carries a duplicate of task 0 and the last two tasks
    result = store.record_outcomes("job1", [outcome(0), outcome(1), outcome(2)])
    # Then the duplicate is stale, the other two apply, and this commit finished the job
    assert [o.task_id for o in result.stale] == [task_id_for(0)]
    assert len(result.applied) == 2
    assert result.finished_job is True
    assert counters(store) == {"remaining": 0, "running": 0, "succeeded": 3, "failed": 0}


def test_the_same_task_twice_in_one_commit_counts_once(store: DynamoJobStore) -> None:
    # Given a duplicate delivery of task 0 landing in the same batch as the original
    new_job(store, tasks=2)
    first, again = outcome(0), outcome(0)
    # When both are committed together
    result = store.record_outcomes("job1", [first, again, outcome(1)])
    # Then one applies, the other is stale, and the job is counted and finished once
    assert len(result.applied) == 2
    assert len(result.stale) == 1
    assert result.finished_job is True
    assert counters(store) == {"remaining": 0, "running": 0, "succeeded": 2, "failed": 0}


def test_more_outcomes_than_one_transaction_holds(store: DynamoJobStore) -> None:
    new_job(store, tasks=110)
    result = store.record_outcomes("job1", [outcome(i) for i in range(110)])
    assert len(result.applied) == 110
    assert result.finished_job is True
    assert counters(store) == {"remaining": 0, "running": 0, "succeeded": 110, "failed": 0}


def test_a_retry_keeps_the_task_pending_with_its_attempt_and_history(store: DynamoJobStore) -> None:
    new_job(store, tasks=1)
    retry = outcome(0, OutcomeKind.RETRY, attempt=1, error="TaskFailure: flaky", retry_delay_seconds=3.0)
    result = store.record_outcomes("job1", [retry])
    assert result.applied == [retry] and result.finished_job is False
    task = store.get_task("job1", task_id_for(0))
    assert task is not None
    assert (task.status, task.attempts, task.error) == (TaskStatus.PENDING, 1, "TaskFailure: flaky")
    assert [(h.attempt, h.status, h.error) for h in task.history] == [(1, TaskStatus.PENDING, "TaskFailure: flaky")]
    assert counters(store) == {"remaining": 1, "running": 0, "succeeded": 0, "failed": 0}
    # the same retry again is stale; the next attempt's success applies and finishes the job
    assert store.record_outcomes("job1", [retry]).stale == [retry]
    final = store.record_outcomes("job1", [outcome(0, attempt=2)])
    assert final.finished_job is True
    task = store.get_task("job1", task_id_for(0))
    assert task is not None
    assert task.status is TaskStatus.SUCCEEDED and task.attempts == 2
    assert [(h.attempt, h.status) for h in task.history] == [(1, TaskStatus.PENDING), (2, TaskStatus.SUCCEEDED)]


@pytest.mark.parametrize("kind", [OutcomeKind.FAILED, OutcomeKind.RETRY])
def test_an_outcome_without_an_error_message_is_recorded(store: DynamoJobStore, kind: OutcomeKind) -> None:
    # TaskOutcome.error is optional; the update must not name an attribute its expressions do not use
    new_job(store, tasks=1)
    result = store.record_outcomes("job1", [outcome(0, kind, error=None)])
    assert len(result.applied) == 1
    task = store.get_task("job1", task_id_for(0))
    assert task is not None and task.error is None and task.history[0].error is None


def test_a_success_clears_the_last_error_but_the_history_keeps_it(store: DynamoJobStore) -> None:
    new_job(store, tasks=1)
    store.record_outcomes("job1", [outcome(0, OutcomeKind.RETRY, error="TaskFailure: flaky")])
    store.record_outcomes("job1", [outcome(0, attempt=2)])
    task = store.get_task("job1", task_id_for(0))
    assert task is not None and task.error is None
    assert [h.error for h in task.history] == ["TaskFailure: flaky", None]


# --- long tasks: running and progress -----------------------------------------------------------------


def test_mark_running_then_outcome_from_running_decrements_running(store: DynamoJobStore) -> None:
    new_job(store, tasks=2)
    assert store.mark_running(msg(0), 1) is True
    assert counters(store) == {"remaining": 2, "running": 1, "succeeded": 0, "failed": 0}
    assert store.get_job("job1").counts.pending == 1  # type: ignore[union-attr]
    assert store.get_task("job1", task_id_for(0)).status is TaskStatus.RUNNING  # type: ignore[union-attr]
    result = store.record_outcomes("job1", [outcome(0, from_running=True)])
    assert len(result.applied) == 1
    assert counters(store) == {"remaining": 1, "running": 0, "succeeded": 1, "failed": 0}


def test_an_outcome_from_running_of_an_older_attempt_is_stale(store: DynamoJobStore) -> None:
    # Given attempt 1 died and attempt 2 re-claimed the running task
    new_job(store, tasks=1)
    assert store.mark_running(msg(0), 1)
    assert store.mark_running(msg(0), 2)
    assert counters(store)["running"] == 1
    # When the late attempt 1 reports, Then it is stale; attempt 2's outcome applies
    assert store.record_outcomes("job1", [outcome(0, attempt=1, from_running=True)]).stale
    assert store.record_outcomes("job1", [outcome(0, attempt=2, from_running=True)]).finished_job is True
    assert counters(store) == {"remaining": 0, "running": 0, "succeeded": 1, "failed": 0}


def test_mark_running_refuses_a_final_task_or_an_older_attempt(store: DynamoJobStore) -> None:
    new_job(store, tasks=2)
    store.record_outcomes("job1", [outcome(0)])
    assert store.mark_running(msg(0), 2) is False
    assert store.mark_running(msg(1), 3) is True
    assert store.mark_running(msg(1), 2) is False
    assert store.mark_running(msg(1), 3) is False
    assert counters(store)["running"] == 1


def test_a_retry_from_running_puts_the_task_back_to_pending(store: DynamoJobStore) -> None:
    new_job(store, tasks=1)
    store.mark_running(msg(0), 1)
    store.record_outcomes("job1", [outcome(0, OutcomeKind.RETRY, from_running=True)])
    assert counters(store) == {"remaining": 1, "running": 0, "succeeded": 0, "failed": 0}
    assert store.get_task("job1", task_id_for(0)).status is TaskStatus.PENDING  # type: ignore[union-attr]
    assert store.mark_running(msg(0), 2) is True


def test_record_progress_only_while_this_attempt_runs(store: DynamoJobStore) -> None:
    new_job(store, tasks=1)
    assert store.record_progress("job1", task_id_for(0), 1, 0.1, None) is False  # not running yet
    store.mark_running(msg(0), 1)
    assert store.record_progress("job1", task_id_for(0), 1, 0.5, "half way") is True
    task = store.get_task("job1", task_id_for(0))
    assert task is not None and (task.progress, task.progress_message) == (0.5, "half way")
    assert store.record_progress("job1", task_id_for(0), 2, 0.6, None) is False  # another attempt's
    store.record_outcomes("job1", [outcome(0, from_running=True)])
    assert store.record_progress("job1", task_id_for(0), 1, 0.9, None) is False


def test_progress_is_clamped(store: DynamoJobStore) -> None:
    new_job(store, tasks=1)
    store.mark_running(msg(0), 1)
    store.record_progress("job1", task_id_for(0), 1, 7.0, "x" * 800)
    task = store.get_task("job1", task_id_for(0))
    assert task is not None and task.progress == 1.0 and len(task.progress_message or "") == 500


# --- resuming -----------------------------------------------------------------------------------------


def test_claim_resume_hands_out_the_token_once(store: DynamoJobStore) -> None:
    new_job(store, tasks=1)
    store.record_outcomes("job1", [outcome(0)])
    job = store.save_resume_token("job1", "tok-123")
    assert job.remaining == 0
    assert store.claim_resume("job1") == "tok-123"
    assert store.claim_resume("job1") is None
    assert store.claim_resume("job1") is None


def test_a_claim_whose_answer_was_lost_is_recognised_by_the_sdks_retry(store: DynamoJobStore) -> None:
    # Given a claim that takes effect but whose answer is lost, so the SDK sends the very same request again
    new_job(store, tasks=1)
    store.record_outcomes("job1", [outcome(0)])
    store.save_resume_token("job1", "tok-123")
    real_update = store._ddb.update_item

    def applied_then_retried(**request: Any) -> Any:
        real_update(**request)
        return real_update(**request)

    store._ddb.update_item = applied_then_retried
    try:
        # When the retry finds the claim taken, Then it still wins it: the id it stored says the claim is its own
        assert store.claim_resume("job1") == "tok-123"
    finally:
        store._ddb.update_item = real_update
    # And nobody else can claim it after
    assert store.claim_resume("job1") is None
    assert store.claim_resume("job1", require_done=False) is None


def test_claim_resume_before_a_token_is_saved_is_none(store: DynamoJobStore) -> None:
    new_job(store, tasks=1)
    store.record_outcomes("job1", [outcome(0)])
    assert store.claim_resume("job1") is None
    # and the failed claim does not use up the one claim
    store.save_resume_token("job1", "tok")
    assert store.claim_resume("job1") == "tok"


def test_claim_resume_while_tasks_remain_is_none(store: DynamoJobStore) -> None:
    new_job(store, tasks=2)
    job = store.save_resume_token("job1", "tok")
    assert job.remaining == 2
    assert store.claim_resume("job1") is None
    store.record_outcomes("job1", [outcome(0), outcome(1)])
    assert store.claim_resume("job1") == "tok"


def test_save_resume_token_for_a_missing_job_fails(store: DynamoJobStore, ddb: Any, table: str) -> None:
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        store.save_resume_token("missing", "tok")
    assert "Item" not in ddb.get_item(TableName=table, Key=job_key("missing"))
