"""Draining the dead-letter queues: a live task fails for good so its job can end; nothing is lost."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import InMemoryJobStore, RecordingWorkflow
from lambda_events import FakeLambdaContext, sqs_record

from lambdas.dead_letters import handler as dead_letter_handler
from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.dead_letter_intake import DeadMessage, take_in
from tasklane.dead_letters import UNROUTED_TENANT, fingerprint
from tasklane.models import Job, JobStatus, Runtime, TaskBundle, TaskMessage, TaskRecord, TaskStatus, task_id_for

NOW = "2026-01-01T00:00:00.000Z"
GAVE_UP = "DeadLettered: the task queue gave up on the message after its maxReceiveCount receives"


def make_job(store: InMemoryJobStore | DynamoJobStore, tasks: int = 2) -> None:
    store.create_job(Job(job_id="job1", tenant="acme", name="n", status=JobStatus.RUNNING, created_at=NOW,
                         updated_at=NOW, total=tasks, remaining=tasks))
    store.write_tasks("job1", [
        TaskRecord(job_id="job1", task_id=task_id_for(i), index=i, type="sleep", runtime=Runtime.EKS,
                   status=TaskStatus.PENDING, created_at=NOW, updated_at=NOW)
        for i in range(tasks)
    ], tasks)


def dead(index: int, tenant: str = "acme", message_id: str = "m1", **attributes: str) -> DeadMessage:
    body = TaskMessage(job_id="job1", task_id=task_id_for(index), tenant=tenant, type="sleep").model_dump_json()
    return DeadMessage(message_id=message_id, body=body, receive_count=5, attributes=attributes)


def counts(store: InMemoryJobStore | DynamoJobStore) -> tuple[int, int, int]:
    job = store.get_job("job1")
    assert job is not None
    return job.remaining, job.running, job.failed


def test_a_message_of_a_pending_task_fails_the_task_and_its_commit_records_the_dead_letter() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    make_job(store)

    assert take_in(dead(0), store, workflow) == []

    task = store.get_task("job1", task_id_for(0))
    assert task is not None and (task.status, task.error, task.attempts) == (TaskStatus.FAILED, GAVE_UP, 0)
    assert counts(store) == (1, 0, 1)
    (letter,) = store.dead_letters("acme", limit=10)
    assert (letter.job_id, letter.task_id, letter.task_type, letter.error) == ("job1", task_id_for(0), "sleep", GAVE_UP)
    assert letter.source == "queue"


def test_a_dead_bundle_fails_each_of_its_live_tasks_and_keeps_a_letter_for_the_one_already_ended() -> None:
    # Given a job of three tasks, one of which already succeeded, all in one dead-lettered bundle
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    make_job(store, tasks=3)
    store.record_outcomes("job1", [TaskOutcome("job1", task_id_for(2), 1, OutcomeKind.SUCCEEDED)])
    tasks = [TaskMessage(job_id="job1", task_id=task_id_for(i), tenant="acme", type="sleep") for i in range(3)]
    message = DeadMessage(message_id="b", body=TaskBundle(tasks=tasks).model_dump_json(), receive_count=25,
                          attributes={})
    # When it is taken in
    kept = take_in(message, store, workflow)
    # Then both live tasks failed with the job's counters, and every task has its dead letter
    assert [letter.task_id for letter in kept] == [task_id_for(2)]
    assert counts(store) == (0, 0, 2)
    letters = store.dead_letters("acme", limit=10)
    assert sorted(letter.task_id for letter in letters) == [task_id_for(i) for i in range(3)]


def test_a_message_of_a_running_task_also_drops_the_running_count() -> None:
    store = InMemoryJobStore()
    make_job(store)
    assert store.mark_running(TaskMessage(job_id="job1", task_id=task_id_for(1), type="sleep"), 3)
    take_in(dead(1), store, RecordingWorkflow())
    assert counts(store) == (1, 0, 1)


def test_taking_in_the_last_live_task_resumes_the_waiting_workflow() -> None:
    store, workflow = InMemoryJobStore(), RecordingWorkflow()
    make_job(store, tasks=1)
    store.save_resume_token("job1", "tok")
    take_in(dead(0), store, workflow)
    assert workflow.resumed == [("tok", {"job_id": "job1"})]


def test_a_message_of_a_task_that_already_ended_is_kept_as_a_dead_letter() -> None:
    store = InMemoryJobStore()
    make_job(store)
    store.record_outcomes("job1", [TaskOutcome("job1", task_id_for(0), 1, OutcomeKind.SUCCEEDED)])

    (letter,) = take_in(dead(0), store, RecordingWorkflow())

    assert (letter.tenant, letter.task_id, letter.source, letter.body) == ("acme", task_id_for(0), "queue", None)
    assert letter.fingerprint == fingerprint("sleep", GAVE_UP)
    assert store.dead_letters("acme", limit=10) == [letter]
    assert counts(store) == (1, 0, 0)  # nothing moved


def test_a_message_of_an_unknown_task_without_a_tenant_is_unrouted() -> None:
    store = InMemoryJobStore()
    (letter,) = take_in(dead(7, tenant=""), store, RecordingWorkflow())
    assert letter.tenant == UNROUTED_TENANT
    assert store.dead_letters(UNROUTED_TENANT, limit=10) == [letter]


@pytest.mark.parametrize(
    ("body", "problem"),
    [("{not json", "the body is not JSON"), ('{"job_id": "job1"}', "the body is not a task: Field required"),
     ("[1, 2]", "the body is not a task")],
)
def test_an_unreadable_message_is_kept_with_its_body_under_its_tenant(body: str, problem: str) -> None:
    store = InMemoryJobStore()
    message = DeadMessage(message_id="m-9", body=body, receive_count=5,
                          attributes={"tenant": "globex", "job_id": "job7", "task_id": "t00000003"})

    (letter,) = take_in(message, store, RecordingWorkflow())

    assert letter.error.startswith(f"UnreadableMessage: {problem}")
    assert (letter.tenant, letter.job_id, letter.task_type) == ("globex", "job7", "unknown")
    assert letter.task_id.startswith("t00000003@")
    assert letter.body == body
    assert store.dead_letters("globex", limit=10) == [letter]


def test_each_different_unreadable_message_is_kept_and_a_double_move_is_one() -> None:
    # Given two different unreadable bodies, the first dead-lettered twice by an at-least-once move
    store = InMemoryJobStore()
    for message_id, body in (("a", "garbage"), ("a-again", "garbage"), ("b", "other garbage")):
        take_in(DeadMessage(message_id=message_id, body=body, receive_count=5, attributes={"tenant": "acme"}),
              store, RecordingWorkflow())

    # Then there is one dead letter per distinct message
    letters = store.dead_letters("acme", limit=10)
    assert sorted(d.body or "" for d in letters) == ["garbage", "other garbage"]
    assert {d.job_id for d in letters} == {"unknown"}
    assert all(d.task_id.startswith("unknown@") for d in letters)


def test_an_unreadable_message_without_attributes_is_unrouted() -> None:
    store = InMemoryJobStore()
    message = DeadMessage(message_id="m", body="x", receive_count=5, attributes={})
    (letter,) = take_in(message, store, RecordingWorkflow())
    assert letter.tenant == UNROUTED_TENANT


# --- the Lambda function over moto --------------------------------------------------------------------


@pytest.fixture
def wired(store: DynamoJobStore, monkeypatch: pytest.MonkeyPatch) -> RecordingWorkflow:
    workflow = RecordingWorkflow()
    monkeypatch.setattr(dead_letter_handler, "store", lambda: store)
    monkeypatch.setattr(dead_letter_handler, "StepFunctionsResumer", lambda: workflow)
    return workflow


def test_the_lambda_takes_in_a_batch_reading_tenants_from_message_attributes(
    store: DynamoJobStore, wired: Any
) -> None:
    make_job(store)
    task_body = dead(0).body
    event = {"Records": [
        sqs_record(task_body, "m-task", receive_count=5, attributes={"tenant": "acme", "job_id": "job1"}),
        sqs_record("{garbage", "m-junk", receive_count=5, attributes={"tenant": "globex", "task_id": "t00000009"}),
    ]}

    assert dead_letter_handler.lambda_handler(event, FakeLambdaContext()) == {"batchItemFailures": []}

    assert counts(store) == (1, 0, 1)
    (task_letter,) = store.dead_letters("acme", limit=10)
    assert (task_letter.task_id, task_letter.source) == (task_id_for(0), "queue")
    (junk,) = store.dead_letters("globex", limit=10)
    assert junk.task_id.startswith("t00000009@") and junk.body == "{garbage"


def test_the_settings_name_the_table(monkeypatch: pytest.MonkeyPatch, table: str) -> None:
    monkeypatch.setenv("TABLE_NAME", table)
    dead_letter_handler.store.reset()
    try:
        assert dead_letter_handler.store().table == table
    finally:
        dead_letter_handler.store.reset()
