"""New runs of a finished job: retrying its FAILED tasks and redriving chosen dead letters."""

from __future__ import annotations

import json

import pytest
from fakes import InMemoryJobStore, RecordingWorkflow

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.dead_letters import DeadLetter, fingerprint
from tasklane.errors import InvalidRequest, JobConflict
from tasklane.models import Job, JobStatus, Runtime, TaskRecord, TaskStatus, task_id_for
from tasklane.redrive import Selection, redrive
from tasklane.reruns import retry_failed, start_run

NOW = "2026-01-01T00:00:00.000Z"
BOOM = "ValueError: row 3 is bad"
SLOW = "TimeoutError: gave up"


def failed_job(store: InMemoryJobStore, job_id: str, errors: dict[int, str | None], tenant: str = "acme",
               status: JobStatus = JobStatus.FAILED) -> Job:
    """A job whose tasks ended: index -> error for a FAILED task, None for a SUCCEEDED one."""
    store.create_job(Job(job_id=job_id, tenant=tenant, name="n", status=JobStatus.RUNNING, created_at=NOW,
                         updated_at=NOW, total=len(errors), remaining=len(errors)))
    store.write_tasks(job_id, [
        TaskRecord(job_id=job_id, task_id=task_id_for(i), index=i, type="echo", runtime=Runtime.LAMBDA,
                   status=TaskStatus.PENDING, created_at=NOW, updated_at=NOW)
        for i in errors
    ], len(errors))
    store.record_outcomes(job_id, [
        TaskOutcome(job_id, task_id_for(i), 1, OutcomeKind.SUCCEEDED if e is None else OutcomeKind.FAILED, error=e,
                    tenant=tenant, task_type="echo")
        for i, e in errors.items()
    ])
    if status is not JobStatus.RUNNING:
        store.set_job_status(job_id, status, only_from=(JobStatus.RUNNING,))
    found = store.get_job(job_id)
    assert found is not None
    return found


# --- retry --------------------------------------------------------------------------------------------


def test_retry_opens_the_next_run_and_starts_its_execution() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    job = failed_job(store, "job1", {0: BOOM, 1: None})

    opened = retry_failed(job, "user:u1", store, workflow)

    assert (opened.run, opened.status) == (1, JobStatus.PENDING)
    assert workflow.started == [
        ("job1-run1", {"job_id": "job1", "run": 1,
                       "rerun": {"task_ids": None, "payload": None, "payload_ref": None, "by": "user:u1"}})
    ]
    # once that run ended failed again, the next retry is run 2
    store.set_job_status("job1", JobStatus.FAILED, only_from=(JobStatus.PENDING,))
    assert retry_failed(store.jobs["job1"], "user:u1", store, workflow).run == 2
    assert workflow.started[-1][0] == "job1-run2"


@pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.RUNNING])
def test_a_live_job_cannot_be_retried(status: JobStatus) -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    job = failed_job(store, "job1", {0: BOOM}, status=JobStatus.RUNNING)
    job = job.model_copy(update={"status": status})
    with pytest.raises(JobConflict, match=status.value):
        retry_failed(job, "u", store, workflow)
    assert workflow.started == []


def test_a_job_without_failed_tasks_cannot_be_retried() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    job = failed_job(store, "job1", {0: None}, status=JobStatus.SUCCEEDED)
    with pytest.raises(JobConflict, match="no FAILED task"):
        retry_failed(job, "u", store, workflow)


def test_a_run_another_caller_opened_first_is_a_conflict() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    job = failed_job(store, "job1", {0: BOOM})
    start_run(job, task_ids=None, payload=None, by="a", store=store, workflow=workflow)
    with pytest.raises(JobConflict, match="run 1"):
        start_run(job, task_ids=None, payload=None, by="b", store=store, workflow=workflow)  # its copy is stale
    assert [name for name, _ in workflow.started] == ["job1-run1"]


# --- redrive ------------------------------------------------------------------------------------------


def test_redrive_by_fingerprint_opens_one_run_per_job_with_its_tasks() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    failed_job(store, "job1", {0: BOOM, 1: SLOW, 2: "ValueError: row 9 is bad"})
    failed_job(store, "job2", {0: "ValueError: row 1 is bad"})

    report = redrive("acme", Selection(fingerprint=fingerprint("echo", BOOM)), {"v": 2}, "key:k", store, workflow)

    assert (report.redriven, report.runs, report.skipped) == (3, {"job1": 1, "job2": 1}, [])
    started = dict(workflow.started)
    assert started["job1-run1"]["rerun"] == {"task_ids": [task_id_for(0), task_id_for(2)], "payload": {"v": 2},
                                             "payload_ref": None, "by": "key:k"}
    assert started["job2-run1"]["rerun"]["task_ids"] == [task_id_for(0)]


def test_redrive_by_job_and_task_ids() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    failed_job(store, "job1", {0: BOOM, 1: SLOW, 2: BOOM})
    failed_job(store, "job2", {0: BOOM})
    report = redrive("acme", Selection(job_id="job1", task_ids=[task_id_for(1), task_id_for(2), "t99999999"]), None,
                     "u", store, workflow)
    assert (report.redriven, report.runs) == (2, {"job1": 1})
    assert workflow.started[0][1]["rerun"]["task_ids"] == [task_id_for(1), task_id_for(2)]


def test_redrive_reports_what_it_skipped_and_why() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    failed_job(store, "live", {0: BOOM}, status=JobStatus.RUNNING)
    failed_job(store, "gone", {0: BOOM})
    del store.jobs["gone"]
    store.put_dead_letter(DeadLetter(tenant="acme", fingerprint=fingerprint("unknown", BOOM), job_id="unknown",
                                     task_id="unknown@m1", task_type="unknown", error=BOOM, source="queue",
                                     dead_at=NOW, body="garbage"))

    report = redrive("acme", Selection(fingerprint=fingerprint("echo", BOOM)), None, "u", store, workflow)
    unknown = redrive("acme", Selection(job_id="unknown"), None, "u", store, workflow)

    assert report.redriven == 0 and workflow.started == []
    assert sorted(report.skipped) == [
        ("gone", task_id_for(0), "the job no longer exists"),
        ("live", task_id_for(0), "the job is still RUNNING; redrive once it ends"),
    ]
    assert unknown.skipped == [("unknown", "unknown@m1", "the message was not a task: nothing to run")]


def test_redrive_never_reaches_another_tenants_jobs() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    failed_job(store, "theirs", {0: BOOM}, tenant="globex")
    # even a dead letter filed under our tenant that names their job
    store.put_dead_letter(DeadLetter(tenant="acme", fingerprint="f", job_id="theirs", task_id=task_id_for(0),
                                     task_type="echo", error=BOOM, source="task", dead_at=NOW))
    report = redrive("acme", Selection(job_id="theirs"), None, "u", store, workflow)
    assert report.skipped == [("theirs", task_id_for(0), "the job no longer exists")]
    assert workflow.started == [] and store.jobs["theirs"].run == 0


def test_a_job_whose_run_moved_on_is_skipped_with_the_conflict() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    failed_job(store, "job1", {0: BOOM})
    store.begin_run = lambda job_id, run: None  # type: ignore[method-assign,assignment]
    report = redrive("acme", Selection(job_id="job1"), None, "u", store, workflow)
    assert report.redriven == 0
    assert [(j, t) for j, t, _ in report.skipped] == [("job1", task_id_for(0))]
    assert "changed while starting run 1" in report.skipped[0][2]


@pytest.mark.parametrize(
    ("selection", "words"),
    [(Selection(), "choose what to redrive"), (Selection(task_ids=["t00000000"]), "give job_id too")],
)
def test_a_redrive_must_choose_clearly(selection: Selection, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        redrive("acme", selection, None, "u", InMemoryJobStore(), RecordingWorkflow())


# --- starting a run safely ----------------------------------------------------------------------------


class RefusingWorkflow(RecordingWorkflow):
    """Step Functions refusing StartExecution (an input over 256 KiB, throttling that outlasted the retries)."""

    def start(self, name: str, execution_input: dict[str, object]) -> None:
        raise RuntimeError("InvalidExecutionInput: the input is too large")


def test_a_run_that_cannot_start_leaves_the_job_as_it_was_and_can_be_asked_again() -> None:
    from tasklane.errors import WorkflowNotStarted

    store = InMemoryJobStore()
    job = failed_job(store, "job1", {0: BOOM})
    # Before: the job was left PENDING with no execution, and asking again answered 409
    with pytest.raises(WorkflowNotStarted, match="the job is FAILED as before: ask again"):
        retry_failed(job, "u", store, RefusingWorkflow())
    after = store.get_job("job1")
    assert after is not None and after.status is JobStatus.FAILED
    # Asking again opens the next run
    workflow = RecordingWorkflow()
    assert retry_failed(after, "u", store, workflow).status is JobStatus.PENDING
    assert [name for name, _ in workflow.started] == ["job1-run2"]


def test_a_redrive_whose_run_cannot_start_skips_that_job_with_why() -> None:
    store = InMemoryJobStore()
    failed_job(store, "job1", {0: BOOM})
    report = redrive("acme", Selection(job_id="job1"), None, "u", store, RefusingWorkflow())
    assert (report.redriven, report.runs) == (0, {})
    assert [(j, t) for j, t, _ in report.skipped] == [("job1", task_id_for(0))]
    assert "could not start" in report.skipped[0][2]
    assert store.get_job("job1").status is JobStatus.FAILED  # type: ignore[union-attr]


def test_a_large_redrive_payload_is_stored_like_any_payload_and_travels_by_reference() -> None:
    from fakes import InMemoryManifests

    from tasklane.dispatch import PAYLOAD_INLINE_BYTES, dispatch_rerun

    store, workflow, manifests = InMemoryJobStore(), RecordingWorkflow(), InMemoryManifests()
    failed_job(store, "job1", {0: BOOM, 1: BOOM})
    big = {"blob": "x" * (PAYLOAD_INLINE_BYTES + 1)}

    report = redrive("acme", Selection(job_id="job1"), big, "u", store, workflow, manifests)

    # The execution's input carries a reference, never the payload: Step Functions takes at most 256 KiB
    assert report.runs == {"job1": 1}
    (_, execution_input), = workflow.started
    rerun = execution_input["rerun"]
    assert (rerun["payload"], rerun["payload_ref"]) == (None, "payloads/job1/run1.json")
    assert manifests.get_payload("payloads/job1/run1.json") == big
    # And the run's dispatch sends each task with the reference; its runner loads the payload from S3
    from fakes import RecordingQueue

    queue = RecordingQueue()
    sent = dispatch_rerun("job1", 1, rerun["task_ids"], None, "u", store, {Runtime.LAMBDA: queue, Runtime.EKS: queue},
                          rerun["payload_ref"])
    assert sent == 2
    assert {(m.payload_ref, json.dumps(m.payload)) for m in queue.sent} == {("payloads/job1/run1.json", "{}")}
    assert store.get_task("job1", task_id_for(0)).payload_ref == "payloads/job1/run1.json"  # type: ignore[union-attr]
