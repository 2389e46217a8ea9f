"""Stopping a live job: record the stop, interrupt the waiting workflow, cancel what is left exactly once."""

from __future__ import annotations

import pytest
from fakes import InMemoryJobStore, RecordingWorkflow

from tasklane import stopping
from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.errors import JobConflict, JobNotFound
from tasklane.models import Job, JobStatus, Runtime, StopReason, TaskMessage, TaskRecord, TaskStatus, task_id_for
from tasklane.stopping import STOP_ERROR, cancel_remaining_tasks, interrupt_wait, stop_job

NOW = "2026-01-01T00:00:00.000Z"


def make_job(store: InMemoryJobStore | DynamoJobStore, tasks: int, job_id: str = "job1") -> Job:
    job = Job(job_id=job_id, tenant="acme", name="n", status=JobStatus.RUNNING, created_at=NOW, updated_at=NOW,
              total=tasks, remaining=tasks)
    store.create_job(job)
    store.write_tasks(job_id, [
        TaskRecord(job_id=job_id, task_id=task_id_for(i), index=i, type="echo", runtime=Runtime.LAMBDA,
                   status=TaskStatus.PENDING, created_at=NOW, updated_at=NOW)
        for i in range(tasks)
    ], tasks)
    found = store.get_job(job_id)
    assert found is not None
    return found


def running(store: InMemoryJobStore | DynamoJobStore, index: int, attempt: int = 1) -> None:
    assert store.mark_running(TaskMessage(job_id="job1", task_id=task_id_for(index), type="echo"), attempt)


def done(index: int, kind: OutcomeKind = OutcomeKind.SUCCEEDED) -> TaskOutcome:
    return TaskOutcome("job1", task_id_for(index), 1, kind, error=None if kind is OutcomeKind.SUCCEEDED else "E: x")


# --- stop_job -----------------------------------------------------------------------------------------


def test_stop_records_the_reason_and_interrupts_the_waiting_workflow() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    job = make_job(store, 2)
    store.save_resume_token("job1", "tok")

    stopped = stop_job(job, StopReason.CANCELLED, store, workflow)

    assert stopped.stop_reason is StopReason.CANCELLED and stopped.status is JobStatus.RUNNING
    assert store.stopped_jobs(["job1"]) == {"job1"}
    assert workflow.interrupted == [("tok", STOP_ERROR, "cancelled")]
    assert workflow.resumed == []


def test_stop_before_the_workflow_waits_only_records_it() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    job = make_job(store, 1)
    stop_job(job, StopReason.TIMED_OUT, store, workflow)
    assert workflow.interrupted == []
    # the wait step, when it comes, interrupts itself
    store.save_resume_token("job1", "late-tok")
    assert interrupt_wait("job1", StopReason.TIMED_OUT, store, workflow) is True
    assert workflow.interrupted == [("late-tok", STOP_ERROR, "timed_out")]
    assert interrupt_wait("job1", StopReason.TIMED_OUT, store, workflow) is False


def test_stopping_a_stopping_job_again_changes_nothing() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    job = make_job(store, 1)
    store.save_resume_token("job1", "tok")
    stop_job(job, StopReason.CANCELLED, store, workflow)
    again = stop_job(job, StopReason.TIMED_OUT, store, workflow)
    assert again.stop_reason is StopReason.CANCELLED
    assert len(workflow.interrupted) == 1


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.TIMED_OUT])
def test_a_finished_job_cannot_be_stopped(status: JobStatus) -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    job = make_job(store, 1)
    store.set_job_status("job1", status, only_from=(JobStatus.RUNNING,))
    # whether the caller's copy is stale (it still says RUNNING) or current
    for copy in (job, store.get_job("job1")):
        with pytest.raises(JobConflict, match=status.value):
            stop_job(copy, StopReason.CANCELLED, store, workflow)  # type: ignore[arg-type]
    assert store.stopped_jobs(["job1"]) == set()
    assert workflow.interrupted == []


def test_stopping_a_job_that_vanished_is_not_found() -> None:
    store = InMemoryJobStore()
    job = make_job(store, 1)
    del store.jobs["job1"]
    with pytest.raises(JobNotFound):
        stop_job(job, StopReason.CANCELLED, store, RecordingWorkflow())


# --- cancel_remaining_tasks ---------------------------------------------------------------------------


def test_cancel_counts_exactly_the_tasks_it_cancelled() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    make_job(store, 5)
    store.record_outcomes("job1", [done(0), done(1, OutcomeKind.FAILED)])
    running(store, 2)

    assert cancel_remaining_tasks("job1", store, workflow) == 3

    job = store.get_job("job1")
    assert job is not None
    assert (job.remaining, job.running, job.cancelled, job.succeeded, job.failed) == (0, 0, 3, 1, 1)
    statuses = [store.get_task("job1", task_id_for(i)).status for i in range(5)]  # type: ignore[union-attr]
    assert statuses == [TaskStatus.SUCCEEDED, TaskStatus.FAILED] + [TaskStatus.CANCELLED] * 3
    # run again (a retried step), it cancels nothing more
    assert cancel_remaining_tasks("job1", store, workflow) == 0
    assert store.get_job("job1").cancelled == 3  # type: ignore[union-attr]


def test_cancel_marks_running_tasks_as_from_running(monkeypatch: pytest.MonkeyPatch) -> None:
    store = InMemoryJobStore()
    make_job(store, 3)
    running(store, 1)
    committed: list[TaskOutcome] = []
    original = store.record_outcomes

    def spy(job_id: str, outcomes: list[TaskOutcome]):  # type: ignore[no-untyped-def]
        committed.extend(outcomes)
        return original(job_id, outcomes)

    monkeypatch.setattr(store, "record_outcomes", spy)
    cancel_remaining_tasks("job1", store, RecordingWorkflow())
    assert [(o.task_id, o.from_running, o.attempt, o.kind) for o in committed] == [
        (task_id_for(0), False, None, OutcomeKind.CANCELLED),
        (task_id_for(1), True, None, OutcomeKind.CANCELLED),
        (task_id_for(2), False, None, OutcomeKind.CANCELLED),
    ]


def test_cancel_in_chunks_still_counts_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stopping, "CANCEL_CHUNK", 2)
    store = InMemoryJobStore()
    make_job(store, 7)
    store.record_outcomes("job1", [done(3)])
    assert cancel_remaining_tasks("job1", store, RecordingWorkflow()) == 6
    assert store.get_job("job1").remaining == 0  # type: ignore[union-attr]


def test_a_task_that_finished_meanwhile_is_not_counted_as_cancelled() -> None:
    # A late finisher: the task ended between the listing and the commit, so its cancellation is stale
    store = InMemoryJobStore()
    make_job(store, 2)
    running(store, 0)
    live = list(store.live_tasks("job1"))
    store.record_outcomes("job1", [TaskOutcome("job1", task_id_for(0), 1, OutcomeKind.SUCCEEDED, from_running=True)])
    store.live_tasks = lambda job_id: iter(live)  # type: ignore[method-assign]
    assert cancel_remaining_tasks("job1", store, RecordingWorkflow()) == 1
    job = store.get_job("job1")
    assert job is not None and (job.succeeded, job.cancelled, job.running, job.remaining) == (1, 1, 0, 0)


def test_after_a_stop_the_cancellation_does_not_resume_the_interrupted_workflow() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    job = make_job(store, 2)
    store.save_resume_token("job1", "tok")
    stop_job(job, StopReason.CANCELLED, store, workflow)
    cancel_remaining_tasks("job1", store, workflow)
    assert workflow.interrupted == [("tok", STOP_ERROR, "cancelled")]
    assert workflow.resumed == []
    assert store.get_job("job1").outcome() is JobStatus.CANCELLED  # type: ignore[union-attr]


def test_cancel_on_dynamodb(store: DynamoJobStore) -> None:
    make_job(store, 4)
    store.record_outcomes("job1", [done(0)])
    running(store, 1, attempt=2)
    assert cancel_remaining_tasks("job1", store, RecordingWorkflow()) == 3
    job = store.get_job("job1")
    assert job is not None and (job.remaining, job.running, job.cancelled) == (0, 0, 3)
    assert store.get_task("job1", task_id_for(1)).status is TaskStatus.CANCELLED  # type: ignore[union-attr]
    assert cancel_remaining_tasks("job1", store, RecordingWorkflow()) == 0


def test_tasks_a_stopped_dispatch_never_wrote_count_as_cancelled() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    job = make_job(store, 0, job_id="job1")
    store.jobs["job1"] = job.model_copy(update={"total": 4, "remaining": 4})
    store.write_tasks("job1", [
        TaskRecord(job_id="job1", task_id=task_id_for(0), index=0, type="echo", runtime=Runtime.LAMBDA,
                   status=TaskStatus.PENDING, created_at=NOW, updated_at=NOW)
    ], 1)
    stop_job(store.jobs["job1"], StopReason.CANCELLED, store, workflow)

    assert cancel_remaining_tasks("job1", store, workflow) == 4  # 3 never written, 1 written and pending

    stopped = store.get_job("job1")
    assert stopped is not None and (stopped.remaining, stopped.cancelled) == (0, 4)
    assert stopped.outcome() is JobStatus.CANCELLED
    assert store.dispatch_cursor("job1")[0] == 4
    assert cancel_remaining_tasks("job1", store, workflow) == 0


def test_unwritten_tasks_are_cancelled_once_on_dynamodb(store: DynamoJobStore) -> None:
    store.create_job(Job(job_id="job1", tenant="acme", name="n", status=JobStatus.RUNNING, created_at=NOW,
                         updated_at=NOW, total=3, remaining=3))
    store.request_stop("job1", StopReason.CANCELLED)
    assert cancel_remaining_tasks("job1", store, RecordingWorkflow()) == 3
    assert cancel_remaining_tasks("job1", store, RecordingWorkflow()) == 0
    job = store.get_job("job1")
    assert job is not None and (job.remaining, job.cancelled, job.outcome()) == (0, 3, JobStatus.CANCELLED)
    assert store.cancel_unwritten("missing") == 0
