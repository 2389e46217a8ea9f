"""The sharded DynamoDB layout on moto: shard selection, exact counts over many shards, completion found once
(also when the resuming claim's answer is lost), and the write units each task costs on each key."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest
from fakes import RecordingWorkflow, Spy, every_page

from bench.cost import item_bytes
from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws import dynamo_items
from tasklane.aws.dynamo_items import (
    COUNT_SK,
    MAX_SHARDS,
    SHARD_BLOCK,
    index_of,
    shard_count,
    shard_of,
    shard_sizes,
)
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.completion import record_outcomes, resume_job
from tasklane.models import Job, JobStatus, Runtime, TaskMessage, TaskRecord, TaskStatus, task_id_for
from tasklane.stopping import cancel_remaining_tasks

NOW = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shards of 10 tasks, so that a job of a few dozen tasks has several, as a large job does."""
    monkeypatch.setattr(dynamo_items, "TASKS_PER_SHARD", 10)


def new_job(store: DynamoJobStore, total: int, written: int | None = None, job_id: str = "j") -> None:
    store.create_job(Job(job_id=job_id, tenant="acme", name="n", status=JobStatus.RUNNING, created_at=NOW,
                         updated_at=NOW, total=total, remaining=total))
    upto = total if written is None else written
    store.write_tasks(job_id, [
        TaskRecord(job_id=job_id, task_id=task_id_for(i), index=i, type="echo", runtime=Runtime.LAMBDA,
                   status=TaskStatus.PENDING, payload={"n": i}, created_at=NOW, updated_at=NOW)
        for i in range(upto)
    ], upto)


def done(i: int, kind: OutcomeKind = OutcomeKind.SUCCEEDED, job_id: str = "j") -> TaskOutcome:
    return TaskOutcome(job_id, task_id_for(i), 1, kind, tenant="acme", task_type="echo",
                       result={"n": i} if kind is OutcomeKind.SUCCEEDED else None,
                       error=None if kind is OutcomeKind.SUCCEEDED else "ValueError: no")


def counts(store: DynamoJobStore, job_id: str = "j") -> tuple[int, ...]:
    job = store.get_job(job_id)
    assert job is not None
    return job.remaining, job.running, job.succeeded, job.failed, job.cancelled


def shards_left(store: DynamoJobStore, ddb: Any, job_id: str = "j") -> int:
    head = ddb.get_item(TableName=store.table, Key=dynamo_items.job_key(job_id), ConsistentRead=True)["Item"]
    return int(head["shards_left"]["N"])


# --- shard selection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("total", "shards"), [(0, 1), (1, 1), (500, 1), (501, 2), (5_000, 10), (100_000, MAX_SHARDS),
                                               (1_000_000, MAX_SHARDS)])
def test_the_shard_count_grows_with_the_job_up_to_its_cap(total: int, shards: int) -> None:
    assert shard_count(total) == shards


def test_a_queue_messages_ten_tasks_share_a_shard_and_the_next_ten_go_to_the_next() -> None:
    assert {shard_of(i, 64) for i in range(0, SHARD_BLOCK)} == {0}
    assert [shard_of(i * SHARD_BLOCK, 64) for i in range(66)] == [*range(64), 0, 1]
    assert [shard_of(i, 1) for i in range(100)] == [0] * 100


@pytest.mark.parametrize("total", [0, 1, 9, 10, 11, 639, 640, 641, 12_345, 100_000])
@pytest.mark.parametrize("shards", [1, 3, 64])
def test_shard_sizes_are_what_assigning_every_task_gives(total: int, shards: int) -> None:
    expected = [0] * shards
    for i in range(total):
        expected[shard_of(i, shards)] += 1
    assert shard_sizes(total, shards) == expected


def test_a_task_id_gives_its_index_and_nothing_else_does() -> None:
    assert [index_of(task_id_for(i)) for i in (0, 7, 123_456)] == [0, 7, 123_456]
    assert [index_of(bad) for bad in ("", "t", "x00000001", "t-1", "t1e3", "t\uff11")] == [None] * 6


# --- a sharded job ------------------------------------------------------------------------------------


def test_a_job_has_its_head_its_metadata_and_one_counter_per_shard(small_shards: None, store: DynamoJobStore,
                                                                   ddb: Any) -> None:
    new_job(store, 95)
    items = ddb.scan(TableName=store.table)["Items"]
    counters = {i["pk"]["S"]: int(i["total"]["N"]) for i in items if i["sk"]["S"] == COUNT_SK}
    assert counters == {f"JOB#j#{k}": size for k, size in enumerate(shard_sizes(95, 10))}
    tasks_by_key: dict[str, int] = defaultdict(int)
    for item in items:
        if item["sk"]["S"].startswith("TASK#"):
            tasks_by_key[item["pk"]["S"]] += 1
    assert tasks_by_key == counters  # every task lives beside its shard's counter
    assert shards_left(store, ddb) == 10


def test_many_commits_over_many_shards_count_exactly_and_one_finishes_the_job(
    small_shards: None, store: DynamoJobStore, ddb: Any
) -> None:
    # Given a job of 95 tasks over 10 shards, committed in shuffled batches with duplicates, a failure,
    # a retry and a task claimed RUNNING
    new_job(store, 95)
    assert store.mark_running(TaskMessage(job_id="j", task_id=task_id_for(42), type="echo"), 1)
    rng = random.Random(7)
    outcomes = [done(i) for i in range(95) if i not in (13, 42)]
    outcomes += [done(13, OutcomeKind.FAILED), TaskOutcome("j", task_id_for(42), 1, OutcomeKind.SUCCEEDED,
                                                           from_running=True, result={})]
    outcomes += [done(i) for i in rng.sample(range(95), 20)]  # redelivered: stale
    rng.shuffle(outcomes)
    # When they are committed batch by batch
    results = [store.record_outcomes("j", outcomes[at : at + 17]) for at in range(0, len(outcomes), 17)]
    # Then every task counts once, exactly one commit finished the job, and no shard has tasks left
    assert sum(len(r.applied) for r in results) == 95
    assert sum(r.finished_job for r in results) == 1
    assert counts(store) == (0, 0, 94, 1, 0)
    assert shards_left(store, ddb) == 0


def test_the_last_shard_to_finish_resumes_once_even_when_the_claims_answer_is_lost(
    small_shards: None, store: DynamoJobStore, ddb: Any
) -> None:
    # Given a job over 5 shards whose workflow waits, with every shard finished but the last task's
    new_job(store, 50)
    store.save_resume_token("j", "tok")
    workflow = RecordingWorkflow()
    assert not record_outcomes([done(i) for i in range(50) if i != 37], store, workflow).finished_job
    assert shards_left(store, ddb) == 1 and workflow.resumed == []
    # And the claim that resumes the job takes effect, but its answer is lost, so the SDK sends it again
    raw = store._ddb._client
    real_update = raw.update_item

    def applied_then_retried(**request: Any) -> Any:
        if request["UpdateExpression"] == "SET resumed = :claim":
            real_update(**request)
        return real_update(**request)

    raw.update_item = applied_then_retried
    try:
        # When the last task of the last shard is committed, and committed again (a duplicate delivery)
        reports = [record_outcomes([done(37)], store, workflow) for _ in range(2)]
    finally:
        raw.update_item = real_update
    # Then the finisher still knows the claim for its own and resumed the workflow, once; nobody else can
    assert [r.finished_job for r in reports] == [True, False]
    assert workflow.resumed == [("tok", {"job_id": "j"})]
    assert resume_job("j", store, workflow) is False
    assert counts(store) == (0, 0, 50, 0, 0)


def test_the_waiting_step_resumes_a_sharded_job_that_finished_before_it_waited(
    small_shards: None, store: DynamoJobStore
) -> None:
    new_job(store, 30)
    workflow = RecordingWorkflow()
    assert record_outcomes([done(i) for i in range(30)], store, workflow).finished_job
    assert workflow.resumed == []  # nobody waits yet
    job = store.save_resume_token("j", "tok")
    assert job.remaining == 0
    assert resume_job("j", store, workflow) is True
    assert resume_job("j", store, workflow) is False
    assert workflow.resumed == [("tok", {"job_id": "j"})]


def test_cancelling_a_half_written_sharded_job_cancels_every_task_once_and_finishes_it(
    small_shards: None, store: DynamoJobStore, ddb: Any
) -> None:
    # Given a job of 95 tasks of which dispatch wrote 35 before it was stopped, 5 of them already done
    new_job(store, 95, written=35)
    store.record_outcomes("j", [done(i) for i in range(5)])
    workflow = RecordingWorkflow()
    # When the stop step cancels what remains, twice (a retried step)
    first = cancel_remaining_tasks("j", store, workflow)
    again = cancel_remaining_tasks("j", store, workflow)
    # Then the 60 unwritten and 30 written live tasks are cancelled once, and no shard has tasks left
    assert (first, again) == (90, 0)
    assert counts(store) == (0, 0, 5, 0, 90)
    assert shards_left(store, ddb) == 0


def test_reopening_failed_tasks_over_several_shards_opens_those_shards_again(
    small_shards: None, store: DynamoJobStore, ddb: Any
) -> None:
    # Given a finished job of 40 tasks over 4 shards, 6 of them failed in 3 shards
    new_job(store, 40)
    failing = {3, 4, 15, 16, 17, 38}
    store.record_outcomes("j", [done(i, OutcomeKind.FAILED if i in failing else OutcomeKind.SUCCEEDED)
                                for i in range(40)])
    store.set_job_status("j", JobStatus.FAILED, only_from=(JobStatus.RUNNING,))
    assert store.begin_run("j", 1) is not None
    # When they are reopened for run 1, in transactions of 2 tasks
    reopened = store.reopen_tasks("j", 1, None, None, "me")
    # Then their 3 shards have tasks to run again, and committing them finishes the job once more
    assert sorted(t.index for t in reopened) == sorted(failing)
    assert shards_left(store, ddb) == 3
    assert counts(store) == (6, 0, 34, 0, 0)
    results = [store.record_outcomes("j", [TaskOutcome("j", task_id_for(i), 2, OutcomeKind.SUCCEEDED, result={})])
               for i in sorted(failing)]
    assert [r.finished_job for r in results] == [False] * 5 + [True]
    assert counts(store) == (0, 0, 40, 0, 0)


def test_listing_pages_through_every_shard_and_ranges_read_across_them(
    small_shards: None, store: DynamoJobStore
) -> None:
    new_job(store, 95)
    store.record_outcomes("j", [done(i, OutcomeKind.FAILED) for i in (2, 33, 94)])
    seen = [t.index for t in every_page(lambda token: store.list_tasks("j", status=None, limit=7,
                                                                        next_token=token), 7)]
    assert sorted(seen) == list(range(95)) and len(seen) == 95
    failed = store.list_tasks("j", status=TaskStatus.FAILED, limit=2, next_token=None)
    rest = store.list_tasks("j", status=TaskStatus.FAILED, limit=2, next_token=failed.next_token)
    assert sorted(t.index for t in failed.items + rest.items) == [2, 33, 94]
    assert [t.index for t in store.tasks_between("j", 7, 64)] == list(range(7, 64))
    assert [t.index for t in store.tasks_between("j", 90, 200)] == list(range(90, 95))
    assert {t.index for t in store.live_tasks("j")} == set(range(95)) - {2, 33, 94}


def test_get_job_is_one_batch_read_known_shards_or_not(small_shards: None, table: str, ddb: Any) -> None:
    new_job(DynamoJobStore(table, ddb), 95)
    store = DynamoJobStore(table, spy := Spy(ddb))  # a fresh process: it does not know the shard count yet
    for _ in range(2):
        job = store.get_job("j")
        assert job is not None and (job.total, job.remaining) == (95, 95)
    assert [name for name, _ in spy.calls] == ["batch_get_item", "batch_get_item"]
    first, second = spy.named("batch_get_item")
    assert len(first["RequestItems"][table]["Keys"]) == 2 + MAX_SHARDS
    assert len(second["RequestItems"][table]["Keys"]) == 2 + 10


def test_a_page_of_jobs_sums_each_ones_counters_even_past_one_batch_read(
    small_shards: None, store: DynamoJobStore
) -> None:
    # Three jobs of 50 shards each: their metadata and counters are 153 keys, more than one BatchGetItem takes
    for job_id in ("a", "b", "c"):
        new_job(store, 500, written=0, job_id=job_id)
    assert store.cancel_unwritten("b") == 500
    page = store.list_jobs("acme", status=None, limit=3, next_token=None)
    assert {j.job_id: (j.total, j.remaining, j.cancelled) for j in page.items} == {
        "a": (500, 500, 0), "b": (500, 0, 500), "c": (500, 500, 0),
    }


# --- write units --------------------------------------------------------------------------------------


def write_units_by_key(
    requests: list[tuple[str, dict[str, Any]]], sizes: dict[tuple[str, str], int]
) -> dict[str, float]:
    """DynamoDB's bill for the writes, per partition key: 1 unit per KiB of the whole item written (its final
    size, the largest it had), twice in a transaction, and once more for the head's copy in the by-tenant index."""
    units: dict[str, float] = defaultdict(float)

    def charge(key: dict[str, Any], factor: int) -> None:
        pk, sk = key["pk"]["S"], key["sk"]["S"]
        cost = factor * max(1, -(-sizes.get((pk, sk), 1) // 1024))
        units[pk] += cost + (1 if sk == dynamo_items.JOB_SK else 0)

    for name, call in requests:
        if name in ("put_item", "update_item"):
            charge(call.get("Key") or call["Item"], 1)
        elif name == "batch_write_item":
            for batch in call["RequestItems"].values():
                for request in batch:
                    charge(request["PutRequest"]["Item"], 1)
        elif name == "transact_write_items":
            for entry in call["TransactItems"]:
                for body in entry.values():
                    charge(body.get("Key") or body["Item"], 2)
    return units


def test_a_task_costs_under_3_5_write_units_and_no_key_takes_over_a_tenth_of_one(
    table: str, ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job of 400 tasks over 4 shards (a 100,000-task job has 64 shards of about 1,560 tasks: each
    # key's bill grows with its tasks, so it is measured per task of a shard and scaled to that job)
    monkeypatch.setattr(dynamo_items, "TASKS_PER_SHARD", 100)
    total, large = 400, 100_000
    spy = Spy(ddb)
    store = DynamoJobStore(table, spy)
    # When it runs as on AWS: created (with large metadata), written, its workflow waits (a long token), its
    # tasks commit as the runner commits them (ten messages of ten tasks, taken in no order), it ends
    store.create_job(Job(job_id="j", tenant="acme", name="n", status=JobStatus.PENDING, created_at=NOW,
                         updated_at=NOW, total=total, remaining=total, metadata={"team": "x" * 20_000}))
    store.set_job_status("j", JobStatus.RUNNING, only_from=(JobStatus.PENDING,))
    store.write_tasks("j", [TaskRecord(job_id="j", task_id=task_id_for(i), index=i, type="echo",
                                       runtime=Runtime.LAMBDA, status=TaskStatus.PENDING, payload={"n": i},
                                       created_at=NOW, updated_at=NOW) for i in range(total)], total)
    store.mark_sent("j", total)
    store.save_resume_token("j", "t" * 1000)
    messages = [list(range(start, start + SHARD_BLOCK)) for start in range(0, total, SHARD_BLOCK)]
    random.Random(3).shuffle(messages)
    workflow = RecordingWorkflow()
    for at in range(0, len(messages), 10):
        record_outcomes([done(i) for message in messages[at : at + 10] for i in message], store, workflow)
    assert workflow.resumed == [("t" * 1000, {"job_id": "j"})]
    store.set_job_status("j", JobStatus.SUCCEEDED, only_from=(JobStatus.RUNNING,))
    # Then, billing every write by the size of its item as it ended (the largest it was)
    sizes = {(i["pk"]["S"], i["sk"]["S"]): item_bytes(i) for i in ddb.scan(TableName=table)["Items"]}
    units = write_units_by_key([(n, c) for n, c in spy.calls if n != "batch_get_item"], sizes)
    assert sum(units.values()) / total <= 3.5
    # And at 100,000 tasks the busiest shard key takes at most 0.1 units per task of the job
    tasks_of_shard = shard_sizes(total, 4)
    per_shard_task = max(units[f"JOB#j#{k}"] / tasks_of_shard[k] for k in range(4))
    assert per_shard_task * max(shard_sizes(large, MAX_SHARDS)) / large <= 0.1
    # And the key of the head and the metadata, written a few times per job (20 KiB of metadata twice) and
    # once per shard that ends, far less, even scaled as though all its writes grew with the shard count
    assert units["JOB#j"] * (MAX_SHARDS / 4) / large <= 0.02
    # And a counter item stays small, whatever the metadata and the token weigh
    assert max(size for (pk, sk), size in sizes.items() if sk == COUNT_SK) < 200
