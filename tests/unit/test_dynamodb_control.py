"""DynamoJobStore's job control on moto: listings, stopping, runs, windows and dead letters."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fakes import Spy
from test_dynamodb_store import NOW, counters, msg, new_job, outcome

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws import dynamo_outcomes, dynamo_reruns
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.dead_letters import UNROUTED_TENANT, DeadLetter, fingerprint
from tasklane.errors import InvalidRequest
from tasklane.models import JobStatus, StopReason, TaskStatus, task_id_for


def failed(index: int, error: str = "ValueError: row 7 is bad", tenant: str = "acme", **fields: Any) -> TaskOutcome:
    return outcome(index, OutcomeKind.FAILED, error=error, tenant=tenant, task_type="echo", **fields)


def finish(store: DynamoJobStore, job_id: str, status: JobStatus) -> None:
    assert store.set_job_status(job_id, status, only_from=(JobStatus.PENDING, JobStatus.RUNNING))


# --- listing jobs -------------------------------------------------------------------------------------


def jobs_at(store: DynamoJobStore, stamps: list[str], tenant: str = "acme") -> list[str]:
    ids = []
    for i, stamp in enumerate(stamps):
        job = new_job(store, job_id=f"{tenant}-{i}", tasks=0, tenant=tenant)
        store._ddb.update_item(
            TableName=store.table, Key={"pk": {"S": f"JOB#{job.job_id}"}, "sk": {"S": "JOB"}},
            UpdateExpression="SET created_at = :c, gsi1sk = :s",
            ExpressionAttributeValues={":c": {"S": stamp}, ":s": {"S": f"{stamp}#{job.job_id}"}},
        )
        ids.append(job.job_id)
    return ids


def test_list_jobs_is_newest_first_in_pages(store: DynamoJobStore) -> None:
    stamps = ["2026-01-01T00:00:03.000Z", "2026-01-01T00:00:01.000Z", "2026-01-01T00:00:05.000Z",
              "2026-01-01T00:00:02.000Z", "2026-01-01T00:00:04.000Z"]
    ids = jobs_at(store, stamps)
    jobs_at(store, ["2026-01-01T00:00:09.000Z"], tenant="globex")
    newest_first = [ids[i] for i in sorted(range(5), key=lambda i: stamps[i], reverse=True)]

    seen: list[str] = []
    token = None
    while True:
        page = store.list_jobs("acme", status=None, limit=2, next_token=token)
        assert len(page.items) <= 2
        seen += [j.job_id for j in page.items]
        token = page.next_token
        if token is None:
            break
    assert seen == newest_first
    assert [j.job_id for j in store.list_jobs("globex", status=None, limit=10, next_token=None).items] == ["globex-0"]


def test_list_jobs_filters_by_status_and_still_fills_its_page(store: DynamoJobStore) -> None:
    ids = jobs_at(store, [f"2026-01-01T00:00:0{i}.000Z" for i in range(6)])
    for job_id in ids[0], ids[2], ids[4]:
        finish(store, job_id, JobStatus.FAILED)
    page = store.list_jobs("acme", status=JobStatus.FAILED, limit=2, next_token=None)
    assert [j.job_id for j in page.items] == [ids[4], ids[2]]
    assert page.next_token
    rest = store.list_jobs("acme", status=JobStatus.FAILED, limit=2, next_token=page.next_token)
    assert [j.job_id for j in rest.items] == [ids[0]]
    assert store.list_jobs("acme", status=JobStatus.SUCCEEDED, limit=5, next_token=None).items == []


def test_a_list_token_of_another_tenant_or_tampered_is_an_invalid_request(store: DynamoJobStore) -> None:
    jobs_at(store, ["2026-01-01T00:00:01.000Z", "2026-01-01T00:00:02.000Z"])
    token = store.list_jobs("acme", status=None, limit=1, next_token=None).next_token
    assert token
    with pytest.raises(InvalidRequest, match="next_token"):
        store.list_jobs("globex", status=None, limit=1, next_token=token)
    key = json.loads(base64.urlsafe_b64decode(token))
    key["gsi1pk"] = "TENANT#globex"
    with pytest.raises(InvalidRequest):
        store.list_jobs("acme", status=None, limit=1, next_token=base64.urlsafe_b64encode(
            json.dumps(key).encode()).decode())
    del key["gsi1sk"]
    with pytest.raises(InvalidRequest):
        store.list_jobs("acme", status=None, limit=1, next_token=base64.urlsafe_b64encode(
            json.dumps(key).encode()).decode())
    # a task-list token is no job-list token
    with pytest.raises(InvalidRequest):
        store.list_jobs("acme", status=None, limit=1, next_token=base64.urlsafe_b64encode(
            json.dumps({"pk": "JOB#x", "sk": "TASK#t0"}).encode()).decode())


# --- stopping -----------------------------------------------------------------------------------------


def test_request_stop_succeeds_once(store: DynamoJobStore) -> None:
    new_job(store, tasks=1)
    stopped = store.request_stop("job1", StopReason.CANCELLED)
    assert stopped is not None and stopped.stop_reason is StopReason.CANCELLED
    assert stopped.status is JobStatus.PENDING
    # a second request, for any reason, changes nothing
    assert store.request_stop("job1", StopReason.TIMED_OUT) is None
    assert store.get_job("job1").stop_reason is StopReason.CANCELLED  # type: ignore[union-attr]


def test_request_stop_of_a_final_or_missing_job_is_none(store: DynamoJobStore) -> None:
    new_job(store, tasks=1)
    finish(store, "job1", JobStatus.SUCCEEDED)
    assert store.request_stop("job1", StopReason.CANCELLED) is None
    assert store.get_job("job1").stop_reason is None  # type: ignore[union-attr]
    assert store.request_stop("nope", StopReason.CANCELLED) is None


def test_stopped_jobs_names_only_the_stopping_ones(store: DynamoJobStore) -> None:
    for job_id in ("a", "b", "c"):
        new_job(store, job_id=job_id, tasks=0)
    store.request_stop("b", StopReason.CANCELLED)
    store.request_stop("c", StopReason.TIMED_OUT)
    assert store.stopped_jobs(["a", "b", "c", "missing", "b"]) == {"b", "c"}
    assert store.stopped_jobs(["a"]) == set()
    assert store.stopped_jobs([]) == set()


def test_stopped_jobs_reads_more_than_one_batch(store: DynamoJobStore) -> None:
    for i in range(105):
        new_job(store, job_id=f"j{i:03d}", tasks=0)
    store.request_stop("j104", StopReason.CANCELLED)
    assert store.stopped_jobs([f"j{i:03d}" for i in range(105)]) == {"j104"}


def test_live_tasks_are_the_pending_and_running_ones(store: DynamoJobStore) -> None:
    new_job(store, tasks=4)
    store.record_outcomes("job1", [outcome(0), failed(1)])
    assert store.mark_running(msg(2), 1)
    assert [(t.task_id, t.status) for t in store.live_tasks("job1")] == [
        (task_id_for(2), TaskStatus.RUNNING), (task_id_for(3), TaskStatus.PENDING),
    ]


def test_a_task_of_a_stopping_job_is_not_claimed(store: DynamoJobStore) -> None:
    new_job(store, tasks=2)
    assert store.mark_running(msg(0), 1)
    store.request_stop("job1", StopReason.CANCELLED)
    # a fresh claim is refused, and the task is left RUNNING for the stop step to cancel
    assert not store.mark_running(msg(1), 1)
    assert store.get_task("job1", task_id_for(1)).status is TaskStatus.RUNNING  # type: ignore[union-attr]
    # a redelivery of a running task is refused too
    assert not store.mark_running(msg(0), 2)


def test_claim_resume_without_require_done_takes_the_token_while_tasks_remain(store: DynamoJobStore) -> None:
    new_job(store, tasks=2)
    assert store.claim_resume("job1", require_done=False) is None  # nothing waits yet
    store.save_resume_token("job1", "tok")
    assert store.claim_resume("job1") is None  # tasks remain
    assert store.claim_resume("job1", require_done=False) == "tok"
    # the one claim is used up, for every kind of caller
    assert store.claim_resume("job1", require_done=False) is None
    store.record_outcomes("job1", [outcome(0), outcome(1)])
    assert store.claim_resume("job1") is None


# --- cancellation and dead-lettering: outcomes without an attempt -------------------------------------


def test_an_outcome_without_an_attempt_checks_the_status_only(store: DynamoJobStore) -> None:
    new_job(store, tasks=3)
    store.record_outcomes("job1", [outcome(0, OutcomeKind.RETRY, attempt=2)])
    assert store.mark_running(msg(1), 1)
    cancels = [
        TaskOutcome("job1", task_id_for(0), None, OutcomeKind.CANCELLED),
        TaskOutcome("job1", task_id_for(1), None, OutcomeKind.CANCELLED, from_running=True),
        TaskOutcome("job1", task_id_for(2), None, OutcomeKind.CANCELLED, from_running=True),  # it is not RUNNING
    ]
    result = store.record_outcomes("job1", cancels)
    assert [o.task_id for o in result.applied] == [task_id_for(0), task_id_for(1)]
    assert [o.task_id for o in result.stale] == [task_id_for(2)]
    job = store.get_job("job1")
    assert job is not None and (job.remaining, job.running, job.cancelled) == (1, 0, 2)
    task = store.get_task("job1", task_id_for(0))
    # the attempt history is left as the attempts made it
    assert task is not None and (task.status, task.attempts, len(task.history)) == (TaskStatus.CANCELLED, 2, 1)
    # a second cancellation is stale
    assert store.record_outcomes("job1", cancels[:1]).stale == cancels[:1]


# --- dead letters -------------------------------------------------------------------------------------


def test_a_failed_commit_writes_a_dead_letter_in_the_same_transaction(store: DynamoJobStore) -> None:
    new_job(store, tasks=3)
    store.record_outcomes("job1", [failed(0), outcome(1), outcome(2, OutcomeKind.RETRY)])

    (letter,) = store.dead_letters("acme", limit=10)

    assert (letter.job_id, letter.task_id, letter.task_type, letter.source) == ("job1", task_id_for(0), "echo", "task")
    assert letter.error == "ValueError: row 7 is bad"
    assert letter.fingerprint == fingerprint("echo", "ValueError: row 7 is bad")
    assert letter.body is None
    # a duplicate of the failure is stale and writes nothing more
    assert store.record_outcomes("job1", [failed(0, attempt=2, error="ValueError: row 8 is bad")]).stale
    assert len(store.dead_letters("acme", limit=10)) == 1


def test_a_failure_without_a_tenant_is_dead_lettered_as_unrouted(store: DynamoJobStore) -> None:
    new_job(store, tasks=1)
    store.record_outcomes("job1", [failed(0, tenant="")])
    assert [d.task_id for d in store.dead_letters(UNROUTED_TENANT, limit=5)] == [task_id_for(0)]


def test_failed_outcomes_beyond_one_transaction_each_get_their_dead_letter(
    store: DynamoJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each failure is two items (the task and its dead letter) beside its shard's counter and room for the
    # head: with 10 items a transaction, 9 failures take chunks of 4, 4 and 1 (the last ends the shard and
    # the job: its counter and the head are guarded accordingly)
    monkeypatch.setattr(dynamo_outcomes, "MAX_TRANSACTION_ITEMS", 10)
    new_job(store, tasks=9)
    spy = Spy(store._ddb)
    store._ddb = spy
    result = store.record_outcomes("job1", [failed(i) for i in range(9)])
    assert len(result.applied) == 9 and result.finished_job
    assert [len(call["TransactItems"]) for call in spy.named("transact_write_items")] == [9, 9, 4]
    assert len(store.dead_letters("acme", limit=100)) == 9
    assert counters(store) == {"remaining": 0, "running": 0, "succeeded": 0, "failed": 9}


def test_dead_letters_are_per_tenant_limited_and_keep_an_unreadable_body(store: DynamoJobStore) -> None:
    for i in range(3):
        store.put_dead_letter(DeadLetter(tenant="acme", fingerprint="f1", job_id="j", task_id=f"t{i}",
                                         task_type="echo", error="E: x", source="queue", dead_at=NOW))
    store.put_dead_letter(DeadLetter(tenant="globex", fingerprint="f2", job_id="unknown", task_id="unknown@m1",
                                     task_type="unknown", error="UnreadableMessage: x", source="queue", dead_at=NOW,
                                     body="{not json"))
    assert len(store.dead_letters("acme", limit=10)) == 3
    assert len(store.dead_letters("acme", limit=2)) == 2
    (theirs,) = store.dead_letters("globex", limit=10)
    assert theirs.body == "{not json" and theirs.tenant == "globex"
    assert store.dead_letters("initech", limit=10) == []


# --- runs ---------------------------------------------------------------------------------------------


def test_begin_run_only_from_a_final_status_and_the_previous_run(store: DynamoJobStore) -> None:
    new_job(store, tasks=1)
    assert store.begin_run("job1", 1) is None  # PENDING
    store.set_job_status("job1", JobStatus.RUNNING, only_from=(JobStatus.PENDING,))
    assert store.begin_run("job1", 1) is None  # RUNNING
    store.request_stop("job1", StopReason.CANCELLED)
    store.save_resume_token("job1", "tok-0")
    store.claim_resume("job1", require_done=False)
    finish(store, "job1", JobStatus.CANCELLED)
    assert store.begin_run("job1", 2) is None  # skips a run

    opened = store.begin_run("job1", 1)

    assert opened is not None
    assert (opened.status, opened.run, opened.stop_reason) == (JobStatus.PENDING, 1, None)
    # the new run's execution saves its own token and may claim it
    assert store.claim_resume("job1", require_done=False) is None
    store.save_resume_token("job1", "tok-1")
    assert store.claim_resume("job1", require_done=False) == "tok-1"
    # the same run is not opened twice
    assert store.begin_run("job1", 1) is None
    finish(store, "job1", JobStatus.FAILED)
    assert store.begin_run("job1", 1) is None
    assert store.begin_run("job1", 2).run == 2  # type: ignore[union-attr]
    assert store.begin_run("missing", 1) is None


def test_reopen_tasks_moves_failed_back_to_remaining_and_deletes_their_dead_letters(store: DynamoJobStore) -> None:
    new_job(store, tasks=4)
    store.record_outcomes("job1", [failed(0), failed(1, error="TimeoutError: 30 s"), outcome(2), failed(3)])
    finish(store, "job1", JobStatus.FAILED)
    store.begin_run("job1", 1)
    assert counters(store) == {"remaining": 0, "running": 0, "succeeded": 1, "failed": 3}

    reopened = store.reopen_tasks("job1", 1, [task_id_for(0), task_id_for(1), task_id_for(2)], None, "user:u1")

    assert sorted(t.task_id for t in reopened) == [task_id_for(0), task_id_for(1)]
    assert counters(store) == {"remaining": 2, "running": 0, "succeeded": 1, "failed": 1}
    task = store.get_task("job1", task_id_for(1))
    assert task is not None
    assert (task.status, task.run, task.redriven_by, task.error) == (TaskStatus.PENDING, 1, "user:u1", None)
    assert task.redriven_at is not None
    assert (task.attempts, len(task.history), task.payload) == (1, 1, {"i": 1})  # the history is kept
    assert store.get_task("job1", task_id_for(2)).status is TaskStatus.SUCCEEDED  # type: ignore[union-attr]
    assert [d.task_id for d in store.dead_letters("acme", limit=10)] == [task_id_for(3)]
    # reopening again finds nothing FAILED among those
    assert store.reopen_tasks("job1", 1, [task_id_for(0)], None, "user:u1") == []
    assert counters(store)["failed"] == 1


def test_reopen_all_failed_tasks_with_a_new_payload(store: DynamoJobStore) -> None:
    new_job(store, tasks=3)
    store.record_outcomes("job1", [failed(0), failed(2)])
    store.record_outcomes("job1", [outcome(1)])
    store._ddb.update_item(
        TableName=store.table, Key={"pk": {"S": "JOB#job1"}, "sk": {"S": f"TASK#{task_id_for(2)}"}},
        UpdateExpression="SET payload_ref = :r", ExpressionAttributeValues={":r": {"S": "payloads/job1/t2.json"}},
    )
    finish(store, "job1", JobStatus.FAILED)
    store.begin_run("job1", 1)

    reopened = store.reopen_tasks("job1", 1, None, {"fixed": True}, "key:k")

    assert [t.task_id for t in reopened] == [task_id_for(0), task_id_for(2)]
    for index in (0, 2):
        task = store.get_task("job1", task_id_for(index))
        assert task is not None and (task.payload, task.payload_ref, task.status) == (
            {"fixed": True}, None, TaskStatus.PENDING
        )
    assert store.dead_letters("acme", limit=10) == []
    assert counters(store) == {"remaining": 2, "running": 0, "succeeded": 1, "failed": 0}


def test_reopen_more_tasks_than_one_transaction_holds(store: DynamoJobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamo_reruns, "REOPEN_PER_TRANSACTION", 4)
    new_job(store, tasks=10)
    store.record_outcomes("job1", [failed(i) for i in range(10)])
    finish(store, "job1", JobStatus.FAILED)
    store.begin_run("job1", 1)
    spy = Spy(store._ddb)
    store._ddb = spy
    assert len(store.reopen_tasks("job1", 1, None, None, "k")) == 10
    # per transaction: each task's update and its dead letter's deletion, and its shard's counter; the first
    # also raises the head's count of shards with tasks to run (its shard was at 0)
    assert [len(call["TransactItems"]) for call in spy.named("transact_write_items")] == [10, 9, 5]
    assert counters(store) == {"remaining": 10, "running": 0, "succeeded": 0, "failed": 0}
    assert store.dead_letters("acme", limit=100) == []


# --- windows ------------------------------------------------------------------------------------------


def test_claim_window_hands_out_consecutive_ranges_capped_at_the_total(store: DynamoJobStore) -> None:
    new_job(store, tasks=5, max_concurrency=2)
    claims = [store.claim_window("job1", 2) for _ in range(4)]
    assert claims == [range(0, 2), range(2, 4), range(4, 5), range(5, 5)]
    assert not claims[-1]
    assert store.claim_window("job1", 0) == range(0)
    assert store.get_job("job1").sent == 8  # type: ignore[union-attr]


def test_tasks_between_reads_a_range_of_indexes(store: DynamoJobStore) -> None:
    new_job(store, tasks=12)
    assert [t.index for t in store.tasks_between("job1", 3, 11)] == list(range(3, 11))
    assert [t.index for t in store.tasks_between("job1", 0, 1)] == [0]
    assert store.tasks_between("job1", 4, 4) == []
    assert [t.index for t in store.tasks_between("job1", 10, 20)] == [10, 11]
