"""The short-task runner: one SQS batch in, outcomes committed once, retries and bad records reported."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import RecordingWorkflow, Spy
from lambda_events import FakeLambdaContext, sqs_record

from lambdas.runner import handler as runner_handler
from lambdas.runner.handler import run_batch
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.aws.sqs_queue import SqsTaskQueue
from tasklane.builtin_tasks import echo
from tasklane.deliveries import DeliveryHandler
from tasklane.errors import RetryTaskAfter
from tasklane.models import (
    Job,
    JobStatus,
    Runtime,
    StopReason,
    TaskBundle,
    TaskMessage,
    TaskRecord,
    TaskStatus,
    task_id_for,
)
from tasklane.registry import TaskContext, TaskRegistry

NOW = "2026-01-01T00:00:00.000Z"
THROTTLE_SECONDS = 120


def make_registry() -> TaskRegistry:
    reg = TaskRegistry()
    reg.task("echo")(echo)

    @reg.task("throttled")
    def throttled(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        if ctx.attempt <= payload.get("fail_times", 0):
            raise RetryTaskAfter(THROTTLE_SECONDS, "throttled by the downstream API")
        return {"attempt": ctx.attempt}

    return reg


@pytest.fixture
def queue_url(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName="tasklane-short", Attributes={"VisibilityTimeout": "30"})["QueueUrl"])


@pytest.fixture
def sqs_spy(sqs: Any) -> Spy:
    return Spy(sqs)


@pytest.fixture
def resumer() -> RecordingWorkflow:
    return RecordingWorkflow()


@pytest.fixture
def task_runner(store: DynamoJobStore, queue_url: str, sqs_spy: Spy, resumer: RecordingWorkflow) -> DeliveryHandler:
    queue = SqsTaskQueue(queue_url, sqs_spy, bundle_size=10)
    return DeliveryHandler(
        store=store, resumer=resumer, retries=queue, registry=make_registry(), send_later=queue.send_later
    )


def make_job(store: DynamoJobStore, specs: list[tuple[str, dict[str, Any]]], job_id: str = "job1") -> None:
    store.create_job(Job(job_id=job_id, tenant="t", name="n", status=JobStatus.RUNNING, created_at=NOW,
                         updated_at=NOW, total=len(specs), remaining=len(specs)))
    store.write_tasks(job_id, [
        TaskRecord(job_id=job_id, task_id=task_id_for(i), index=i, type=t, runtime=Runtime.LAMBDA,
                   status=TaskStatus.PENDING, payload=p, created_at=NOW, updated_at=NOW)
        for i, (t, p) in enumerate(specs)
    ], len(specs))


def body(index: int, task_type: str, payload: dict[str, Any] | None = None, job_id: str = "job1") -> str:
    message = TaskMessage(job_id=job_id, task_id=task_id_for(index), type=task_type, payload=payload or {})
    return message.model_dump_json()


def deliver(sqs: Any, queue_url: str, bodies: list[str]) -> list[dict[str, Any]]:
    """Put bodies on the moto queue and receive them, so receipt handles are real; returns Lambda records."""
    for b in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=b)
    received: list[dict[str, Any]] = []
    while len(received) < len(bodies):
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
        assert got.get("Messages"), "moto lost a message"
        received += got["Messages"]
    by_body = {m["Body"]: m for m in received}
    return [
        sqs_record(b, message_id=m["MessageId"], receive_count=int(m["Attributes"]["ApproximateReceiveCount"]),
                   receipt_handle=m["ReceiptHandle"])
        for b, m in ((b, by_body[b]) for b in bodies)
    ]


def counters(store: DynamoJobStore) -> dict[str, int]:
    job = store.get_job("job1")
    assert job is not None
    return {"remaining": job.remaining, "running": job.running, "succeeded": job.succeeded, "failed": job.failed}


def failures(response: dict[str, Any]) -> list[str]:
    return sorted(f["itemIdentifier"] for f in response["batchItemFailures"])


def test_a_mixed_batch(
    store: DynamoJobStore, task_runner: DeliveryHandler, sqs: Any, sqs_spy: Spy, queue_url: str,
    resumer: RecordingWorkflow,
) -> None:
    # Given a job of two tasks and a batch with: a success, a task that asks to be retried, a body that
    # is not JSON, and a duplicate delivery of the success in the same batch
    make_job(store, [("echo", {"n": 1}), ("throttled", {"fail_times": 1})])
    success, retry, garbage = deliver(
        sqs, queue_url, [body(0, "echo", {"n": 1}), body(1, "throttled", {"fail_times": 1}), "{not json"]
    )
    duplicate = sqs_record(success["body"], message_id="dup-of-success", receive_count=1)

    # When the batch runs
    response = run_batch([success, retry, garbage, duplicate], task_runner, FakeLambdaContext())  # type: ignore[arg-type]

    # Then the retry and the garbage are reported, the success and its duplicate are not
    assert failures(response) == sorted([retry["messageId"], garbage["messageId"]])
    # And the retry was hidden for the delay the task asked for; the garbage was handed back at once, so
    # its receives run out soon and SQS dead-letters it
    assert sqs_spy.named("change_message_visibility") == [
        {"QueueUrl": queue_url, "ReceiptHandle": retry["receiptHandle"], "VisibilityTimeout": THROTTLE_SECONDS},
        {"QueueUrl": queue_url, "ReceiptHandle": garbage["receiptHandle"], "VisibilityTimeout": 0},
    ]
    visible = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages")
    assert [m["Body"] for m in visible] == ["{not json"]
    # And the success counted once; the retried task waits, PENDING, with its attempt recorded
    assert counters(store) == {"remaining": 1, "running": 0, "succeeded": 1, "failed": 0}
    first = store.get_task("job1", task_id_for(0))
    second = store.get_task("job1", task_id_for(1))
    assert first is not None and (first.status, first.result) == (TaskStatus.SUCCEEDED, {"n": 1})
    assert second is not None and (second.status, second.attempts) == (TaskStatus.PENDING, 1)
    assert resumer.resumed == []


def test_a_bundle_commits_its_finished_tasks_and_sends_its_retry_on_alone(
    store: DynamoJobStore, task_runner: DeliveryHandler, sqs: Any, sqs_spy: Spy, queue_url: str
) -> None:
    # Given a job of three short tasks that travel in one bundle; the middle one is throttled once
    make_job(store, [("echo", {"n": 0}), ("throttled", {"fail_times": 1}), ("echo", {"n": 2})])
    tasks = [TaskMessage.model_validate_json(body(i, t, p)) for i, (t, p) in
             enumerate([("echo", {"n": 0}), ("throttled", {"fail_times": 1}), ("echo", {"n": 2})])]
    (record,) = deliver(sqs, queue_url, [TaskBundle(tasks=tasks).model_dump_json()])

    # When the batch runs
    response = run_batch([record], task_runner, FakeLambdaContext())  # type: ignore[arg-type]

    # Then the bundle is not reported (so it is deleted), its two echoes counted once
    assert response == {"batchItemFailures": []}
    assert counters(store) == {"remaining": 1, "running": 0, "succeeded": 2, "failed": 0}
    # And the throttled task went back alone, delayed by what it asked for, as its attempt 2
    assert sqs_spy.named("change_message_visibility") == []
    (sent,) = sqs_spy.named("send_message")
    again = TaskMessage.model_validate_json(sent["MessageBody"])
    assert (sent["DelaySeconds"], again.task_id, again.attempt(1)) == (THROTTLE_SECONDS, task_id_for(1), 2)
    task = store.get_task("job1", task_id_for(1))
    assert task is not None and (task.status, task.attempts) == (TaskStatus.PENDING, 1)


def test_the_last_task_resumes_the_workflow_once_and_later_duplicates_are_ignored(
    store: DynamoJobStore, task_runner: DeliveryHandler, sqs_spy: Spy, resumer: RecordingWorkflow
) -> None:
    # Given a one-task job whose workflow waits on a token
    make_job(store, [("echo", {"n": 1})])
    store.save_resume_token("job1", "tok-1")
    record = sqs_record(body(0, "echo", {"n": 1}), message_id="m1")

    # When it runs, Then nothing is reported and the workflow is resumed
    assert run_batch([record], task_runner, None) == {"batchItemFailures": []}
    assert resumer.resumed == [("tok-1", {"job_id": "job1"})]

    # When SQS delivers it again (a later batch), Then it is not reported, not counted, not resumed again
    again = sqs_record(record["body"], message_id="m1", receive_count=2)
    assert run_batch([again], task_runner, None) == {"batchItemFailures": []}
    assert counters(store) == {"remaining": 0, "running": 0, "succeeded": 1, "failed": 0}
    assert resumer.resumed == [("tok-1", {"job_id": "job1"})]
    assert sqs_spy.named("change_message_visibility") == []


def test_a_retry_that_was_already_recorded_is_not_scheduled_again(
    store: DynamoJobStore, task_runner: DeliveryHandler, sqs: Any, sqs_spy: Spy, queue_url: str
) -> None:
    # Given attempt 1 of a task asked for a retry, which was committed and scheduled
    make_job(store, [("throttled", {"fail_times": 5})])
    (first,) = deliver(sqs, queue_url, [body(0, "throttled", {"fail_times": 5})])
    assert failures(run_batch([first], task_runner, None)) == [first["messageId"]]
    assert len(sqs_spy.named("change_message_visibility")) == 1
    # When a duplicate of attempt 1 arrives
    duplicate = sqs_record(first["body"], message_id="dup", receive_count=1)
    response = run_batch([duplicate], task_runner, None)
    # Then it is dropped: not reported, not hidden again, not recorded twice
    assert response == {"batchItemFailures": []}
    assert len(sqs_spy.named("change_message_visibility")) == 1
    task = store.get_task("job1", task_id_for(0))
    assert task is not None and (task.status, task.attempts, len(task.history)) == (TaskStatus.PENDING, 1, 1)
    assert counters(store) == {"remaining": 1, "running": 0, "succeeded": 0, "failed": 0}


def test_a_retried_task_succeeds_on_its_next_delivery(
    store: DynamoJobStore, task_runner: DeliveryHandler, sqs: Any, queue_url: str, resumer: RecordingWorkflow
) -> None:
    # Given a one-task job whose task fails its first attempt, and a workflow waiting on it
    make_job(store, [("throttled", {"fail_times": 1})])
    store.save_resume_token("job1", "tok-9")
    (first,) = deliver(sqs, queue_url, [body(0, "throttled", {"fail_times": 1})])
    assert failures(run_batch([first], task_runner, None)) == [first["messageId"]]
    # When SQS delivers it a second time, Then it succeeds, finishes the job and resumes the workflow
    second = sqs_record(first["body"], message_id=first["messageId"], receive_count=2)
    assert run_batch([second], task_runner, None) == {"batchItemFailures": []}
    task = store.get_task("job1", task_id_for(0))
    assert task is not None and (task.status, task.attempts, task.result) == (TaskStatus.SUCCEEDED, 2, {"attempt": 2})
    assert counters(store) == {"remaining": 0, "running": 0, "succeeded": 1, "failed": 0}
    assert resumer.resumed == [("tok-9", {"job_id": "job1"})]


def test_the_last_attempt_fails_the_task_and_is_not_reported(
    store: DynamoJobStore, task_runner: DeliveryHandler
) -> None:
    make_job(store, [("throttled", {"fail_times": 9})])
    last = sqs_record(body(0, "throttled", {"fail_times": 9}), message_id="m", receive_count=3)
    assert run_batch([last], task_runner, None) == {"batchItemFailures": []}
    assert counters(store) == {"remaining": 0, "running": 0, "succeeded": 0, "failed": 1}


def test_a_commit_that_fails_fails_the_whole_batch(store: DynamoJobStore, task_runner: DeliveryHandler) -> None:
    # A store error after the batch ran raises, so the event source mapping hands every message back
    make_job(store, [("echo", {})])

    def broken(job_id: str, outcomes: list[Any]) -> Any:
        raise ConnectionError("dynamodb unreachable")

    task_runner.store.record_outcomes = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        run_batch([sqs_record(body(0, "echo"), "m")], task_runner, None)


def test_lambda_handler_wires_the_runner_from_its_environment(
    monkeypatch: pytest.MonkeyPatch, store: DynamoJobStore, table: str, queue_url: str, sfn: Any
) -> None:
    # Given the runner's settings in its environment and a job of one echo task
    monkeypatch.setenv("TABLE_NAME", table)
    monkeypatch.setenv("SHORT_QUEUE_URL", queue_url)
    monkeypatch.setenv("LONG_QUEUE_URL", queue_url.replace("tasklane-short", "tasklane-long"))
    monkeypatch.setenv("MANIFEST_BUCKET", "tasklane-manifests-test")
    make_job(store, [("echo", {"n": 3})])
    # When the deployed entry point gets an SQS event
    event = {"Records": [sqs_record(body(0, "echo", {"n": 3}), "m1")]}
    response = runner_handler.lambda_handler(event, FakeLambdaContext())
    # Then the task ran with the built-in registry and was recorded
    assert response == {"batchItemFailures": []}
    task = store.get_task("job1", task_id_for(0))
    assert task is not None and task.result == {"n": 3}


def test_a_batch_does_not_start_the_tasks_of_a_stopping_job(
    store: DynamoJobStore, task_runner: DeliveryHandler
) -> None:
    make_job(store, [("echo", {"n": 1})])
    make_job(store, [("echo", {"n": 2})], job_id="job2")
    store.request_stop("job1", StopReason.CANCELLED)
    batch = [sqs_record(body(0, "echo", {"n": 1}), "a"), sqs_record(body(0, "echo", {"n": 2}, job_id="job2"), "b")]

    assert run_batch(batch, task_runner, None) == {"batchItemFailures": []}

    # its message is consumed; the job's stop step cancels the task
    assert store.get_task("job1", task_id_for(0)).status is TaskStatus.PENDING  # type: ignore[union-attr]
    assert store.get_task("job2", task_id_for(0)).status is TaskStatus.SUCCEEDED  # type: ignore[union-attr]


def test_the_deployed_runner_loads_payloads_by_reference_and_releases_the_window(
    monkeypatch: pytest.MonkeyPatch, store: DynamoJobStore, table: str, queue_url: str, manifests: S3ManifestStore,
    sqs: Any, sfn: Any,
) -> None:
    monkeypatch.setenv("TABLE_NAME", table)
    monkeypatch.setenv("SHORT_QUEUE_URL", queue_url)
    monkeypatch.setenv("LONG_QUEUE_URL", queue_url)
    monkeypatch.setenv("MANIFEST_BUCKET", manifests.bucket)
    # Given a job of two tasks, one in flight at a time, whose first payload is stored in S3
    store.create_job(Job(job_id="job1", tenant="t", name="n", status=JobStatus.RUNNING, created_at=NOW,
                         updated_at=NOW, total=2, remaining=2, max_concurrency=1))
    ref = manifests.put_payload("job1", task_id_for(0), {"big": "x" * 100})
    store.write_tasks("job1", [
        TaskRecord(job_id="job1", task_id=task_id_for(i), index=i, type="echo", runtime=Runtime.LAMBDA,
                   status=TaskStatus.PENDING, payload={} if i == 0 else {"i": i}, payload_ref=ref if i == 0 else None,
                   created_at=NOW, updated_at=NOW)
        for i in range(2)
    ], 2)
    assert store.claim_window("job1", 1) == range(0, 1)
    first = TaskMessage(job_id="job1", task_id=task_id_for(0), tenant="t", type="echo", payload_ref=ref, windowed=True)

    # When the first task's message is run by the deployed entry point
    response = runner_handler.lambda_handler({"Records": [sqs_record(first.model_dump_json(), "m1")]},
                                             FakeLambdaContext())

    # Then it ran on the payload read from S3, and its end sent the next task
    assert response == {"batchItemFailures": []}
    assert store.get_task("job1", task_id_for(0)).result == {"big": "x" * 100}  # type: ignore[union-attr]
    (released,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    message = TaskMessage.model_validate_json(released["Body"])
    assert (message.task_id, message.windowed, message.payload) == (task_id_for(1), True, {"i": 1})


class ClockedContext(FakeLambdaContext):
    """A Lambda context whose remaining time is what the batch's tasks have left of it so far."""

    def __init__(self, remaining_seconds: list[float]) -> None:
        self.remaining = iter(remaining_seconds)

    def get_remaining_time_in_millis(self) -> int:
        return int(next(self.remaining) * 1000)


def test_a_batch_commits_what_finished_and_sends_on_what_it_has_no_time_to_run(
    store: DynamoJobStore, task_runner: DeliveryHandler, sqs: Any, queue_url: str
) -> None:
    # Given two single-task messages of one job, each with the runtime's default timeout of 60 s, and a
    # runner with 80 s left for the first and 40 s for the second (the first took 40 s)
    task_runner.default_timeout_seconds = 60
    make_job(store, [("echo", {"n": 0}), ("echo", {"n": 1})])
    records = deliver(sqs, queue_url, [body(0, "echo", {"n": 0}), body(1, "echo", {"n": 1})])

    # When the batch runs
    response = run_batch(records, task_runner, ClockedContext([80.0, 40.0]))  # type: ignore[arg-type]

    # Then nothing is reported failed: the first task's result is committed, and the second, which could run
    # past the runner's end, went on as a message of its own with its attempt unspent
    assert failures(response) == []
    assert counters(store) == {"remaining": 1, "running": 0, "succeeded": 1, "failed": 0}
    second = store.get_task("job1", task_id_for(1))
    assert second is not None and (second.status, second.attempts) == (TaskStatus.PENDING, 0)
    sent = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    again = [TaskMessage.model_validate_json(m["Body"]) for m in sent]
    assert [(m.task_id, m.timeout_seconds, m.attempt(1)) for m in again] == [(task_id_for(1), 60, 1)]
