"""Recording outcomes job by job and resuming a job's workflow exactly once."""

from __future__ import annotations

from typing import Any

from fakes import RecordingWorkflow, ScriptedStore

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.completion import record_outcomes, resume_job
from tasklane.models import Job, JobStatus, Runtime, TaskRecord, TaskStatus
from tasklane.ports import CommitResult


def out(job_id: str, task_id: str, kind: OutcomeKind = OutcomeKind.SUCCEEDED) -> TaskOutcome:
    return TaskOutcome(job_id=job_id, task_id=task_id, attempt=1, kind=kind)


def test_outcomes_are_committed_per_job_and_reported_together() -> None:
    a1, a2, b1 = out("a", "t1"), out("a", "t2"), out("b", "t1")
    store = ScriptedStore(
        {"a": CommitResult(applied=[a1], stale=[a2]), "b": CommitResult(applied=[b1])}, token=None
    )
    workflow = RecordingWorkflow()

    report = record_outcomes([a1, b1, a2], store, workflow)  # type: ignore[arg-type]

    assert store.committed == [("a", [a1, a2]), ("b", [b1])]
    assert report.applied == [a1, b1]
    assert report.stale == [a2]
    assert report.finished_job is False
    assert store.claims == 0
    assert workflow.resumed == []


def test_the_commit_that_finishes_a_job_resumes_it_once() -> None:
    a1, b1 = out("a", "t1"), out("b", "t1")
    store = ScriptedStore({"a": CommitResult(applied=[a1], finished_job=True), "b": CommitResult(applied=[b1])})
    workflow = RecordingWorkflow()

    report = record_outcomes([a1, b1], store, workflow)  # type: ignore[arg-type]

    assert report.finished_job is True
    assert workflow.resumed == [("token-1", {"job_id": "a"})]


def test_resume_job_sends_only_for_the_caller_that_wins_the_claim() -> None:
    store, workflow = ScriptedStore({}), RecordingWorkflow()
    results = [resume_job("a", store, workflow) for _ in range(3)]  # type: ignore[arg-type]
    assert results == [True, False, False]
    assert workflow.resumed == [("token-1", {"job_id": "a"})]


def test_resume_job_without_a_saved_token_sends_nothing() -> None:
    store, workflow = ScriptedStore({}, token=None), RecordingWorkflow()
    assert resume_job("a", store, workflow) is False  # type: ignore[arg-type]
    assert workflow.resumed == []


def test_on_dynamodb_the_finisher_and_the_waiting_step_resume_once_between_them(store: DynamoJobStore) -> None:
    # Given a one-task job whose workflow saved its token while the task ran
    now = "2026-01-01T00:00:00.000Z"
    store.create_job(Job(job_id="j", tenant="t", name="n", status=JobStatus.RUNNING, created_at=now, updated_at=now,
                         total=1, remaining=1))
    store.write_tasks("j", [TaskRecord(job_id="j", task_id="t00000000", index=0, type="echo", runtime=Runtime.LAMBDA,
                                       status=TaskStatus.PENDING, created_at=now, updated_at=now)], 1)
    store.save_resume_token("j", "tok")
    workflow = RecordingWorkflow()
    # When the last task's outcome is committed, twice (a duplicate delivery), and the step also tries
    finisher: list[Any] = [record_outcomes([out("j", "t00000000")], store, workflow) for _ in range(2)]
    step = resume_job("j", store, workflow)
    # Then exactly one resume went out
    assert [r.finished_job for r in finisher] == [True, False]
    assert step is False
    assert workflow.resumed == [("tok", {"job_id": "j"})]
