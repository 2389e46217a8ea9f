"""The JobStore contract, run against both DynamoJobStore (moto) and the in-memory fake the domain tests use,
so a domain test over the fake means what it would over DynamoDB."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fakes import InMemoryJobStore, every_page

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws import dynamo_items
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.dead_letters import DeadLetter
from tasklane.errors import InvalidRequest
from tasklane.models import Job, JobStatus, Runtime, StopReason, TaskMessage, TaskRecord, TaskStatus, task_id_for
from tasklane.ports import JobControls, JobRecords, JobStore, TaskOutcomes

NOW = "2026-01-01T00:00:00.000Z"


@pytest.fixture(params=["dynamodb", "memory"])
def any_store(request: pytest.FixtureRequest) -> JobStore:
    if request.param == "memory":
        return InMemoryJobStore()
    store: DynamoJobStore = request.getfixturevalue("store")
    return store


def new_job(store: Any, tasks: int = 3, job_id: str = "job1", **fields: Any) -> None:
    store.create_job(Job(job_id=job_id, tenant="acme", name="n", status=JobStatus.RUNNING, created_at=NOW,
                         updated_at=NOW, total=tasks, remaining=tasks, **fields))
    store.write_tasks(job_id, [
        TaskRecord(job_id=job_id, task_id=task_id_for(i), index=i, type="echo", runtime=Runtime.LAMBDA,
                   status=TaskStatus.PENDING, payload={"i": i}, created_at=NOW, updated_at=NOW)
        for i in range(tasks)
    ], tasks)


def out(index: int, kind: OutcomeKind, attempt: int | None = 1, **fields: Any) -> TaskOutcome:
    return TaskOutcome("job1", task_id_for(index), attempt, kind, tenant="acme", task_type="echo",
                       error=None if kind is OutcomeKind.SUCCEEDED else "ValueError: 1", **fields)


def shape(store: Any) -> tuple[int, ...]:
    job = store.get_job("job1")
    return job.remaining, job.running, job.succeeded, job.failed, job.cancelled


def test_outcomes_stale_duplicates_and_the_one_finisher(any_store: Any) -> None:
    new_job(any_store, tasks=3)
    first = any_store.record_outcomes("job1", [out(0, OutcomeKind.SUCCEEDED), out(1, OutcomeKind.RETRY),
                                               out(0, OutcomeKind.SUCCEEDED, attempt=2)])
    assert (len(first.applied), len(first.stale), first.finished_job) == (2, 1, False)
    assert any_store.record_outcomes("job1", [out(1, OutcomeKind.RETRY)]).stale  # not newer than attempt 1
    assert any_store.mark_running(TaskMessage(job_id="job1", task_id=task_id_for(2), type="echo"), 1)
    assert shape(any_store) == (3 - 1, 1, 1, 0, 0)
    last = any_store.record_outcomes("job1", [out(1, OutcomeKind.FAILED, attempt=2),
                                              out(2, OutcomeKind.CANCELLED, attempt=None, from_running=True)])
    assert (len(last.applied), last.finished_job) == (2, True)
    assert shape(any_store) == (0, 0, 1, 1, 1)
    task = any_store.get_task("job1", task_id_for(1))
    assert (task.status, task.attempts, [h.attempt for h in task.history]) == (TaskStatus.FAILED, 2, [1, 2])
    assert [d.task_id for d in any_store.dead_letters("acme", limit=10)] == [task_id_for(1)]


def test_resume_claims(any_store: Any) -> None:
    new_job(any_store, tasks=1)
    assert any_store.claim_resume("job1", require_done=False) is None
    any_store.save_resume_token("job1", "tok")
    assert any_store.claim_resume("job1") is None
    assert any_store.claim_resume("job1", require_done=False) == "tok"
    assert any_store.claim_resume("job1", require_done=False) is None


def test_stopping_and_unwritten_tasks(any_store: Any) -> None:
    any_store.create_job(Job(job_id="job1", tenant="acme", name="n", status=JobStatus.PENDING, created_at=NOW,
                             updated_at=NOW, total=5, remaining=5))
    any_store.write_tasks("job1", [
        TaskRecord(job_id="job1", task_id=task_id_for(0), index=0, type="echo", runtime=Runtime.LAMBDA,
                   status=TaskStatus.PENDING, created_at=NOW, updated_at=NOW)
    ], 1)
    assert any_store.request_stop("job1", StopReason.TIMED_OUT).stop_reason is StopReason.TIMED_OUT
    assert any_store.request_stop("job1", StopReason.CANCELLED) is None
    assert any_store.stopped_jobs(["job1", "nope"]) == {"job1"}
    assert any_store.cancel_unwritten("job1") == 4
    assert any_store.cancel_unwritten("job1") == 0
    assert any_store.dispatch_cursor("job1") == (5, 0)
    assert shape(any_store) == (1, 0, 0, 0, 4)
    assert [t.task_id for t in any_store.live_tasks("job1")] == [task_id_for(0)]
    # a task of a stopping job can be claimed for RUNNING, but the claim says no
    assert any_store.mark_running(TaskMessage(job_id="job1", task_id=task_id_for(0), type="echo"), 1) is False
    assert any_store.get_task("job1", task_id_for(0)).status is TaskStatus.RUNNING


def test_runs_and_reopening(any_store: Any) -> None:
    new_job(any_store, tasks=3)
    any_store.record_outcomes("job1", [out(0, OutcomeKind.FAILED), out(1, OutcomeKind.SUCCEEDED),
                                       out(2, OutcomeKind.FAILED)])
    assert any_store.begin_run("job1", 1) is None
    any_store.set_job_status("job1", JobStatus.FAILED, only_from=(JobStatus.RUNNING,))
    assert any_store.begin_run("job1", 2) is None
    opened = any_store.begin_run("job1", 1)
    assert (opened.run, opened.status) == (1, JobStatus.PENDING)
    reopened = any_store.reopen_tasks("job1", 1, [task_id_for(2), task_id_for(1)], {"p": 1}, "by")
    assert [t.task_id for t in reopened] == [task_id_for(2)]
    assert shape(any_store) == (1, 0, 1, 1, 0)
    task = any_store.get_task("job1", task_id_for(2))
    assert (task.status, task.run, task.payload, task.redriven_by, task.error) == (
        TaskStatus.PENDING, 1, {"p": 1}, "by", None
    )
    assert [d.task_id for d in any_store.dead_letters("acme", limit=10)] == [task_id_for(0)]


def test_windows(any_store: Any) -> None:
    new_job(any_store, tasks=5, max_concurrency=2)
    assert [any_store.claim_window("job1", 2) for _ in range(4)] == [range(0, 2), range(2, 4), range(4, 5),
                                                                      range(5, 5)]
    assert any_store.get_job("job1").sent == 8
    assert [t.index for t in any_store.tasks_between("job1", 1, 4)] == [1, 2, 3]


def test_listing_jobs_and_tasks(any_store: Any) -> None:
    for i in range(3):
        new_job(any_store, tasks=0, job_id=f"j{i}")
    any_store.set_job_status("j1", JobStatus.SUCCEEDED, only_from=(JobStatus.RUNNING,))
    page = any_store.list_jobs("acme", status=None, limit=2, next_token=None)
    rest = any_store.list_jobs("acme", status=None, limit=2, next_token=page.next_token)
    assert [j.job_id for j in page.items + rest.items] == ["j2", "j1", "j0"]
    assert [j.job_id for j in any_store.list_jobs("acme", status=JobStatus.SUCCEEDED, limit=5,
                                                  next_token=None).items] == ["j1"]
    with pytest.raises(InvalidRequest):
        any_store.list_jobs("globex", status=None, limit=2, next_token=page.next_token)
    new_job(any_store, tasks=5)
    tasks = any_store.list_tasks("job1", status=None, limit=3, next_token=None)
    more = any_store.list_tasks("job1", status=None, limit=3, next_token=tasks.next_token)
    assert [t.index for t in tasks.items + more.items] == [0, 1, 2, 3, 4]
    with pytest.raises(InvalidRequest):
        any_store.list_tasks("j0", status=None, limit=3, next_token=tasks.next_token)


def test_a_job_over_many_shards_behaves_as_one_item_would(any_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Shards of 10 tasks: a job of 45 has 5 of them on DynamoDB (the fake keeps one list); what a caller sees
    # is the same either way
    monkeypatch.setattr(dynamo_items, "TASKS_PER_SHARD", 10)
    new_job(any_store, tasks=45, max_concurrency=4)
    # Windows claim consecutive indexes, and read them back in order across shard boundaries
    assert any_store.claim_window("job1", 12) == range(0, 12)
    assert [t.index for t in any_store.tasks_between("job1", 5, 31)] == list(range(5, 31))
    # Listing pages through every task once; a status filter finds tasks in several shards
    any_store.record_outcomes("job1", [out(i, OutcomeKind.FAILED) for i in (3, 17, 44)])
    any_store.record_outcomes("job1", [out(i, OutcomeKind.SUCCEEDED) for i in (0, 10, 20, 30, 40)])
    seen = every_page(lambda token: any_store.list_tasks("job1", status=None, limit=4, next_token=token), 4)
    assert sorted(t.index for t in seen) == list(range(45))
    failed = any_store.list_tasks("job1", status=TaskStatus.FAILED, limit=10, next_token=None)
    assert sorted(t.index for t in failed.items) == [3, 17, 44]
    assert any_store.list_jobs("acme", status=None, limit=1, next_token=None).items[0].failed == 3
    # A claim counts in its shard; a cancel ends every live task once, and the job once
    assert any_store.mark_running(TaskMessage(job_id="job1", task_id=task_id_for(25), type="echo"), 1)
    assert shape(any_store) == (37, 1, 5, 3, 0)
    assert any_store.request_stop("job1", StopReason.CANCELLED) is not None
    live = list(any_store.live_tasks("job1"))
    assert sorted(t.index for t in live) == sorted(set(range(45)) - {3, 17, 44, 0, 10, 20, 30, 40})
    ends = [any_store.record_outcomes("job1", [
        out(t.index, OutcomeKind.CANCELLED, attempt=None, from_running=t.status is TaskStatus.RUNNING)
    ]).finished_job for t in live]
    assert sum(ends) == 1 and ends[-1]
    assert shape(any_store) == (0, 0, 5, 3, 37)
    # A new run reopens the failures in their shards, and its commits finish the job once more
    any_store.set_job_status("job1", JobStatus.CANCELLED, only_from=(JobStatus.RUNNING,))
    assert any_store.begin_run("job1", 1) is not None
    assert sorted(t.index for t in any_store.reopen_tasks("job1", 1, None, None, "by")) == [3, 17, 44]
    assert shape(any_store) == (3, 0, 5, 0, 37)
    again = [any_store.record_outcomes("job1", [out(i, OutcomeKind.SUCCEEDED, attempt=2)]).finished_job
             for i in (44, 3, 17)]
    assert again == [False, False, True]
    assert shape(any_store) == (0, 0, 8, 0, 37)


def test_dispatch_cursors(any_store: Any) -> None:
    new_job(any_store, tasks=3)
    assert any_store.dispatch_cursor("job1") == (3, 0)
    any_store.mark_sent("job1", 2)
    assert any_store.dispatch_cursor("job1") == (3, 2)


def test_progress_lands_only_for_the_attempt_that_owns_the_task(any_store: Any) -> None:
    new_job(any_store)
    task_id = task_id_for(0)
    message = TaskMessage(job_id="job1", task_id=task_id, tenant="acme", type="echo")
    assert not any_store.record_progress("job1", task_id, 1, 0.5, "half")  # still PENDING: nobody owns it
    assert any_store.mark_running(message, 1)
    assert any_store.record_progress("job1", task_id, 1, 1.5, "x" * 600)
    task = any_store.get_task("job1", task_id)
    assert (task.progress, task.progress_message) == (1.0, "x" * 500)  # clamped, and the note cut
    assert not any_store.record_progress("job1", task_id, 2, 0.7, None)  # another attempt's report
    assert not any_store.record_progress("job1", "t99999999", 1, 0.7, None)  # no such task


def test_dead_letters_are_kept_per_tenant(any_store: Any) -> None:
    letter = DeadLetter(tenant="acme", fingerprint="f1", job_id="job1", task_id="t1", task_type="echo",
                        error="TaskFailure: boom", source="task", dead_at=NOW)
    any_store.put_dead_letter(letter)
    any_store.put_dead_letter(replace(letter, tenant="globex", task_id="t2"))
    assert any_store.dead_letters("acme", limit=10) == [letter]


def test_the_contract_exercises_every_method_of_the_store() -> None:
    """Each method of each part of JobStore is called in this module, and every test here runs against both
    implementations (any_store), so a method added to the protocol needs a contract test here first."""
    called = {
        node.func.attr for node in ast.walk(ast.parse(Path(__file__).read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    methods = {name for part in (JobRecords, TaskOutcomes, JobControls) for name, value in vars(part).items()
               if callable(value) and not name.startswith("_")}
    assert len(methods) == 24
    assert methods - called == set()
