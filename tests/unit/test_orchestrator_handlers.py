"""The workflow's steps as Lambda functions, over DynamoDB, S3, SQS and Step Functions on moto."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from api_harness import BUCKET
from fakes import RecordingWorkflow, Spy
from lambda_events import FakeLambdaContext, sqs_record

from lambdas.orchestrator import handlers
from lambdas.orchestrator import watchdog as watchdog_lambda
from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.aws.stepfunctions import StepFunctionsResumer
from tasklane.completion import record_outcomes
from tasklane.models import (
    Job,
    JobSpec,
    JobStatus,
    Runtime,
    StopReason,
    TaskMessage,
    TaskSpec,
    TaskStatus,
    task_id_for,
    tasks_in,
)
from tasklane.stopping import STOP_ERROR
from tasklane.watchdog import WatchRequest

NOW = "2026-01-01T00:00:00.000Z"
CTX = FakeLambdaContext()


@pytest.fixture
def queues(sqs: Any) -> dict[str, str]:
    return {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("short", "long", "control")}


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, table: str, manifests: S3ManifestStore, queues: dict[str, str]
) -> Iterator[None]:
    monkeypatch.setenv("TABLE_NAME", table)
    monkeypatch.setenv("MANIFEST_BUCKET", BUCKET)
    monkeypatch.setenv("SHORT_QUEUE_URL", queues["short"])
    monkeypatch.setenv("LONG_QUEUE_URL", queues["long"])
    monkeypatch.setenv("CONTROL_QUEUE_URL", queues["control"])
    handlers.settings.reset()
    handlers.store.reset()
    yield
    handlers.settings.reset()
    handlers.store.reset()


@pytest.fixture
def resumer(monkeypatch: pytest.MonkeyPatch) -> RecordingWorkflow:
    """The step builds its StepFunctionsResumer when it needs one; hand it a recording fake instead."""
    fake = RecordingWorkflow()
    monkeypatch.setattr(handlers, "StepFunctionsResumer", lambda: fake)
    return fake


def create_job(store: DynamoJobStore, manifests: S3ManifestStore, runtimes: list[Runtime], job_id: str = "job1",
               status: JobStatus = JobStatus.PENDING) -> None:
    spec = JobSpec(name="n", tasks=[TaskSpec(type="echo", payload={"i": i}, runtime=r) for i, r in enumerate(runtimes)])
    manifests.put(job_id, spec)
    store.create_job(Job(job_id=job_id, tenant="t", name="n", status=status, created_at=NOW, updated_at=NOW,
                         total=len(runtimes), remaining=len(runtimes)))


def drain(sqs: Any, url: str) -> list[TaskMessage]:
    messages: list[TaskMessage] = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        messages += [task for m in got for task in tasks_in(m["Body"])]
    return messages


def test_mark_running_moves_a_pending_job_once(env: None, store: DynamoJobStore, manifests: S3ManifestStore) -> None:
    create_job(store, manifests, [Runtime.LAMBDA])
    assert handlers.mark_running({"job_id": "job1"}, CTX) == {"job_id": "job1"}
    assert store.get_job("job1").status is JobStatus.RUNNING  # type: ignore[union-attr]
    store.set_job_status("job1", JobStatus.CANCELLED, only_from=(JobStatus.RUNNING,))
    handlers.mark_running({"job_id": "job1"}, CTX)  # a retried step does not undo a cancellation
    assert store.get_job("job1").status is JobStatus.CANCELLED  # type: ignore[union-attr]


def test_dispatch_tasks_sends_each_task_to_its_runtimes_queue(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, sqs: Any, queues: dict[str, str]
) -> None:
    create_job(store, manifests, [Runtime.LAMBDA, Runtime.EKS, Runtime.LAMBDA])
    assert handlers.dispatch_tasks({"job_id": "job1"}, CTX) == {"job_id": "job1", "sent": 3}
    short, long = drain(sqs, queues["short"]), drain(sqs, queues["long"])
    assert sorted(m.task_id for m in short) == [task_id_for(0), task_id_for(2)]
    assert [m.task_id for m in long] == [task_id_for(1)]
    assert store.dispatch_cursor("job1") == (3, 3)
    assert len(store.list_tasks("job1", status=None, limit=10, next_token=None).items) == 3
    # a retried step sends nothing more
    assert handlers.dispatch_tasks({"job_id": "job1"}, CTX)["sent"] == 0


def test_wait_for_tasks_resumes_at_once_when_no_task_remains(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, resumer: RecordingWorkflow
) -> None:
    # Given a job whose tasks all finished before the workflow reached its wait
    create_job(store, manifests, [])
    # When the wait step saves its token
    assert handlers.wait_for_tasks({"job_id": "job1", "task_token": "tok-0"}, CTX) == {"job_id": "job1"}
    # Then it resumed the execution itself, and used up the one claim
    assert resumer.resumed == [("tok-0", {"job_id": "job1"})]
    assert store.claim_resume("job1") is None


def test_wait_for_tasks_leaves_the_token_for_the_last_finisher(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, resumer: RecordingWorkflow, sqs: Any
) -> None:
    # Given a dispatched job of two tasks
    create_job(store, manifests, [Runtime.LAMBDA, Runtime.LAMBDA])
    handlers.dispatch_tasks({"job_id": "job1"}, CTX)
    # When the wait step runs while tasks remain, Then it does not resume
    handlers.wait_for_tasks({"job_id": "job1", "task_token": "tok-1"}, CTX)
    assert resumer.resumed == []
    # And the commit of the last task resumes it, exactly once
    done = [TaskOutcome("job1", task_id_for(i), 1, OutcomeKind.SUCCEEDED, result=i) for i in range(2)]
    record_outcomes(done[:1], store, resumer)
    assert resumer.resumed == []
    record_outcomes(done[1:], store, resumer)
    record_outcomes(done[1:], store, resumer)  # a duplicate delivery
    handlers.wait_for_tasks({"job_id": "job1", "task_token": "tok-1"}, CTX)  # a retried wait step
    assert resumer.resumed == [("tok-1", {"job_id": "job1"})]


def test_wait_for_tasks_resumes_through_step_functions(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, sfn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real resumer over moto's Step Functions (which accepts any token): SendTaskSuccess is sent once
    spy = Spy(sfn)
    monkeypatch.setattr(handlers, "StepFunctionsResumer", lambda: StepFunctionsResumer(spy))
    create_job(store, manifests, [])
    handlers.wait_for_tasks({"job_id": "job1", "task_token": "tok-sfn"}, CTX)
    handlers.wait_for_tasks({"job_id": "job1", "task_token": "tok-sfn"}, CTX)
    calls = spy.named("send_task_success")
    assert len(calls) == 1
    assert calls[0]["taskToken"] == "tok-sfn"
    assert json.loads(calls[0]["output"]) == {"job_id": "job1"}


def test_wait_for_tasks_with_the_default_resumer_does_not_fail(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, sfn: Any
) -> None:
    create_job(store, manifests, [])
    assert handlers.wait_for_tasks({"job_id": "job1", "task_token": "tok"}, CTX) == {"job_id": "job1"}
    assert store.claim_resume("job1") is None


def test_a_step_with_bad_input_raises(env: None) -> None:
    with pytest.raises(ValueError, match="task_token"):
        handlers.wait_for_tasks({"job_id": "job1"}, CTX)


@pytest.mark.parametrize(
    ("succeeded", "failed", "tolerated", "status"),
    [(3, 0, 0.0, "SUCCEEDED"), (2, 1, 0.0, "FAILED"), (2, 1, 50.0, "SUCCEEDED")],
)
def test_finalize_sets_the_status_the_counts_earn(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, succeeded: int, failed: int, tolerated: float,
    status: str,
) -> None:
    store.create_job(Job(job_id="job1", tenant="t", name="n", status=JobStatus.RUNNING, created_at=NOW, updated_at=NOW,
                         total=3, remaining=3, tolerated_failure_percentage=tolerated))
    manifests.put("job1", JobSpec(name="n", tasks=[TaskSpec(type="echo", runtime=Runtime.LAMBDA)] * 3))
    handlers.dispatch_tasks({"job_id": "job1"}, CTX)
    kinds = [OutcomeKind.SUCCEEDED] * succeeded + [OutcomeKind.FAILED] * failed
    store.record_outcomes("job1", [TaskOutcome("job1", task_id_for(i), 1, k) for i, k in enumerate(kinds)])

    result = handlers.finalize({"job_id": "job1"}, CTX)

    assert result == {
        "job_id": "job1", "status": status,
        "counts": {"total": 3, "pending": 0, "running": 0, "succeeded": succeeded, "failed": failed, "cancelled": 0},
    }
    assert store.get_job("job1").status == status  # type: ignore[union-attr]


# --- watches, reruns and stops ------------------------------------------------------------------------


class RecordingControlQueue:
    scheduled: list[tuple[WatchRequest, int]] = []

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def schedule(self, request: WatchRequest, delay_seconds: int) -> None:
        RecordingControlQueue.scheduled.append((request, delay_seconds))


@pytest.fixture
def control(monkeypatch: pytest.MonkeyPatch) -> list[tuple[WatchRequest, int]]:
    RecordingControlQueue.scheduled = []
    monkeypatch.setattr(handlers, "SqsControlQueue", RecordingControlQueue)
    monkeypatch.setattr(watchdog_lambda, "SqsControlQueue", RecordingControlQueue)
    return RecordingControlQueue.scheduled


def test_mark_running_schedules_the_watch_of_a_job_with_a_deadline(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, control: list[tuple[WatchRequest, int]]
) -> None:
    create_job(store, manifests, [Runtime.LAMBDA], job_id="plain")
    handlers.mark_running({"job_id": "plain"}, CTX)
    assert control == []
    store.create_job(Job(job_id="timed", tenant="t", name="n", status=JobStatus.PENDING, created_at=NOW,
                         updated_at=NOW, total=1, remaining=1, timeout_seconds=120))
    before = time.time()
    handlers.mark_running({"job_id": "timed", "run": 0}, CTX)
    ((request, delay),) = control
    assert (request.job_id, request.run, delay) == ("timed", 0, 120)
    assert request.deadline is not None and before + 120 <= request.deadline <= time.time() + 120


def test_dispatch_tasks_of_a_rerun_sends_the_reopened_tasks(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, sqs: Any, queues: dict[str, str]
) -> None:
    create_job(store, manifests, [Runtime.LAMBDA, Runtime.LAMBDA, Runtime.EKS])
    handlers.dispatch_tasks({"job_id": "job1"}, CTX)
    assert len(drain(sqs, queues["short"]) + drain(sqs, queues["long"])) == 3
    store.record_outcomes("job1", [
        TaskOutcome("job1", task_id_for(0), 3, OutcomeKind.FAILED, error="E: a", tenant="t", task_type="echo"),
        TaskOutcome("job1", task_id_for(1), 1, OutcomeKind.SUCCEEDED),
        TaskOutcome("job1", task_id_for(2), 1, OutcomeKind.FAILED, error="E: b", tenant="t", task_type="echo"),
    ])
    store.set_job_status("job1", JobStatus.FAILED, only_from=(JobStatus.PENDING,))
    store.begin_run("job1", 1)

    step = {"job_id": "job1", "run": 1, "rerun": {"task_ids": [task_id_for(0)], "payload": {"v": 2}, "by": "u"}}
    assert handlers.dispatch_tasks(step, CTX) == {"job_id": "job1", "sent": 1}

    (message,) = drain(sqs, queues["short"])
    assert (message.task_id, message.payload, message.attempt_offset) == (task_id_for(0), {"v": 2}, 3)
    assert drain(sqs, queues["long"]) == []
    assert store.get_task("job1", task_id_for(2)).status is TaskStatus.FAILED  # type: ignore[union-attr]
    assert store.get_job("job1").remaining == 1  # type: ignore[union-attr]


def test_wait_for_tasks_of_a_stopping_job_interrupts_itself(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, resumer: RecordingWorkflow
) -> None:
    create_job(store, manifests, [Runtime.LAMBDA])
    store.request_stop("job1", StopReason.CANCELLED)
    handlers.wait_for_tasks({"job_id": "job1", "task_token": "tok-s"}, CTX)
    assert resumer.interrupted == [("tok-s", STOP_ERROR, "cancelled")]
    assert resumer.resumed == []


def test_stop_tasks_then_finalize_ends_the_job_cancelled(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, resumer: RecordingWorkflow
) -> None:
    create_job(store, manifests, [Runtime.LAMBDA] * 3, status=JobStatus.RUNNING)
    handlers.dispatch_tasks({"job_id": "job1"}, CTX)
    store.record_outcomes("job1", [TaskOutcome("job1", task_id_for(0), 1, OutcomeKind.SUCCEEDED)])
    store.request_stop("job1", StopReason.CANCELLED)

    assert handlers.stop_tasks({"job_id": "job1"}, CTX) == {"job_id": "job1", "cancelled": 2}
    assert handlers.stop_tasks({"job_id": "job1"}, CTX)["cancelled"] == 0  # a retried step

    result = handlers.finalize({"job_id": "job1"}, CTX)
    assert result["status"] == "CANCELLED"
    assert result["counts"] == {"total": 3, "pending": 0, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 2}


def test_a_timed_out_job_finalizes_timed_out(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, resumer: RecordingWorkflow
) -> None:
    create_job(store, manifests, [Runtime.LAMBDA], status=JobStatus.RUNNING)
    store.request_stop("job1", StopReason.TIMED_OUT)
    handlers.stop_tasks({"job_id": "job1"}, CTX)
    assert handlers.finalize({"job_id": "job1"}, CTX)["status"] == "TIMED_OUT"


def test_the_watchdog_function_reschedules_until_the_deadline_then_stops_the_job(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, control: list[tuple[WatchRequest, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workflow = RecordingWorkflow()
    monkeypatch.setattr(watchdog_lambda, "StepFunctionsResumer", lambda: workflow)
    watchdog_lambda.settings.reset()
    create_job(store, manifests, [Runtime.LAMBDA], status=JobStatus.RUNNING)
    store.save_resume_token("job1", "tok-w")
    later = WatchRequest(job_id="job1", deadline=time.time() + 600)
    due = WatchRequest(job_id="job1", deadline=time.time() - 1)
    event = {"Records": [sqs_record(later.model_dump_json(), "w1"), sqs_record(due.model_dump_json(), "w2")]}

    assert watchdog_lambda.lambda_handler(event, CTX) == {"batchItemFailures": []}
    watchdog_lambda.settings.reset()

    # the first record was not due: it comes back when the deadline is; the second stopped the job
    ((request, delay),) = control
    assert request == later and 599 <= delay <= 600
    assert store.get_job("job1").stop_reason is StopReason.TIMED_OUT  # type: ignore[union-attr]
    assert workflow.interrupted == [("tok-w", STOP_ERROR, "timed_out")]


def deep(levels: int) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for _ in range(levels):
        nested = {"a": nested}
    return nested


def test_a_job_whose_dispatch_fails_for_good_ends_failed_with_the_error(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, resumer: RecordingWorkflow
) -> None:
    # Given a running job whose manifest its dispatcher cannot parse (nested past pydantic's 200 levels, as
    # the API once accepted), so every retry of the dispatch step fails the same way
    create_job(store, manifests, [Runtime.LAMBDA] * 2, status=JobStatus.RUNNING)
    body = {"name": "n", "tasks": [{"type": "echo", "payload": deep(250), "runtime": "lambda"}] * 2}
    manifests.put_json("job1", json.dumps(body).encode())
    with pytest.raises(ValueError, match="recursion limit"):
        handlers.dispatch_tasks({"job_id": "job1"}, CTX)

    # When the workflow's catch hands the step's error to Fail job (as Step Functions words a Lambda error)
    cause = json.dumps({"errorMessage": "1 validation error for JobSpec: recursion limit exceeded",
                        "errorType": "ValidationError"})
    step = {"job_id": "job1", "run": 0, "rerun": None, "failure": {"Error": "ValidationError", "Cause": cause}}
    assert handlers.fail_job(step, CTX) == {"job_id": "job1", "status": "FAILED"}

    # Then the job ended FAILED, saying why, and none of its tasks is left to wait for
    job = store.get_job("job1")
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error == (
        "the job's workflow could not go on: ValidationError: 1 validation error for JobSpec: recursion limit exceeded"
    )
    assert (job.remaining, job.cancelled) == (0, 2)
    # And a retried step changes nothing
    assert handlers.fail_job(step, CTX)["status"] == "FAILED"


def test_a_job_cancelled_before_its_dispatch_failed_ends_cancelled(
    env: None, store: DynamoJobStore, manifests: S3ManifestStore, resumer: RecordingWorkflow
) -> None:
    create_job(store, manifests, [Runtime.LAMBDA] * 2, status=JobStatus.RUNNING)
    store.request_stop("job1", StopReason.CANCELLED)
    step = {"job_id": "job1", "failure": {"Error": "States.TaskFailed", "Cause": "not JSON"}}
    assert handlers.fail_job(step, CTX) == {"job_id": "job1", "status": "CANCELLED"}
    job = store.get_job("job1")
    assert job is not None and (job.error, job.cancelled, job.remaining) == (None, 2, 0)
