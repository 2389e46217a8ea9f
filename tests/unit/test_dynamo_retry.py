"""Riding out DynamoDB contention: conflicts and throttles (stubbed botocore errors) are retried, bounded, with
jittered backoff, on every write path; a refused condition never is."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws.dynamo_retry import CONTENTION_ATTEMPTS, CONTENTION_BACKOFF, ContendedDynamoDB, contended
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.models import Job, JobStatus, Runtime, TaskMessage, TaskRecord, TaskStatus, task_id_for

NOW = "2026-01-01T00:00:00.000Z"


def cancelled(*codes: str) -> ClientError:
    return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                        "CancellationReasons": [{"Code": c} for c in codes]}, "TransactWriteItems")


def error(code: str, operation: str = "UpdateItem") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


@pytest.mark.parametrize(("failure", "retried"), [
    (cancelled("None", "TransactionConflict"), True),
    (cancelled("ThrottlingError", "None"), True),
    (cancelled("ProvisionedThroughputExceeded"), True),
    (cancelled("ConditionalCheckFailed", "TransactionConflict"), False),  # the caller must judge the refusal
    (cancelled("ConditionalCheckFailed"), False),
    (cancelled("ValidationError"), False),
    (cancelled(), False),
    (error("TransactionConflictException"), True),
    (error("ProvisionedThroughputExceededException"), True),
    (error("ThrottlingException"), True),
    (error("RequestLimitExceeded"), True),
    (error("ConditionalCheckFailedException"), False),
    (error("ValidationException"), False),
    (ValueError("not from AWS"), False),
])
def test_which_errors_are_contention(failure: Exception, retried: bool) -> None:
    assert contended(failure) is retried


class Scripted:
    """A client whose calls fail with the scripted errors, then answer."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.exceptions = object()

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return {"answered": request}


def test_a_contended_call_backs_off_with_growing_jittered_delays_then_answers() -> None:
    client = Scripted(cancelled("TransactionConflict"), error("ThrottlingException"),
                      error("TransactionConflictException"))
    slept: list[float] = []
    assert ContendedDynamoDB(client, sleep=slept.append).update_item(Key=1) == {"answered": {"Key": 1}}
    assert client.calls == 4
    assert [CONTENTION_BACKOFF.ceiling(n) / 2 <= delay <= CONTENTION_BACKOFF.ceiling(n)
            for n, delay in enumerate(slept, start=1)] == [True] * 3


def test_contention_that_does_not_clear_gives_up_after_a_bounded_number_of_attempts() -> None:
    client = Scripted(*[cancelled("TransactionConflict")] * 50)
    slept: list[float] = []
    with pytest.raises(ClientError):
        ContendedDynamoDB(client, sleep=slept.append).update_item()
    assert client.calls == CONTENTION_ATTEMPTS
    assert len(slept) == CONTENTION_ATTEMPTS - 1 and sum(slept) < 10


def test_a_refused_condition_is_answered_at_once() -> None:
    client = Scripted(error("ConditionalCheckFailedException"))
    slept: list[float] = []
    with pytest.raises(ClientError):
        ContendedDynamoDB(client, sleep=slept.append).update_item()
    assert (client.calls, slept) == (1, [])


# --- every write path, on moto, with DynamoDB's errors stubbed in front ------------------------------------


class Flaky:
    """Wraps a real client: the first calls of each named operation fail with the given error."""

    def __init__(self, target: Any, failures: dict[str, list[Exception]]) -> None:
        self._target = target
        self.failures = failures
        self.exceptions = target.exceptions

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._target, name)

        def flaky(**request: Any) -> Any:
            pending = self.failures.get(name) or []
            if pending:
                raise pending.pop(0)
            return call(**request)

        return flaky


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tasklane.backoff.time.sleep", lambda _: None)


def test_every_write_path_rides_out_conflicts_and_throttles(no_sleep: None, table: str, ddb: Any) -> None:
    # Given a store whose every kind of write first meets a conflict and a throttle, as AWS answers a busy key
    def both(kind: str) -> list[Exception]:
        conflict = cancelled("TransactionConflict", "None") if kind == "transact" else error(
            "TransactionConflictException")
        return [conflict, error("ProvisionedThroughputExceededException")]

    operations = {"transact_write_items": "transact", "update_item": "single", "batch_write_item": "single",
                  "put_item": "single"}
    flaky = Flaky(ddb, {})
    store = DynamoJobStore(table, flaky)

    def contended_next() -> None:
        flaky.failures = {name: both(kind) for name, kind in operations.items()}

    # When a job is created, written, dispatched, claimed RUNNING, reports progress, commits, claims a window
    # and is resumed, each step meeting the contention first
    contended_next()
    store.create_job(Job(job_id="j", tenant="acme", name="n", status=JobStatus.RUNNING, created_at=NOW,
                         updated_at=NOW, total=3, remaining=3, max_concurrency=1))
    contended_next()
    store.write_tasks("j", [TaskRecord(job_id="j", task_id=task_id_for(i), index=i, type="echo",
                                       runtime=Runtime.LAMBDA, status=TaskStatus.PENDING, created_at=NOW,
                                       updated_at=NOW) for i in range(3)], 3)
    contended_next()
    assert store.claim_window("j", 1) == range(0, 1)
    contended_next()
    assert store.mark_running(TaskMessage(job_id="j", task_id=task_id_for(0), type="echo"), 1) is True
    contended_next()
    assert store.record_progress("j", task_id_for(0), 1, 0.5, "half") is True
    contended_next()
    result = store.record_outcomes("j", [TaskOutcome("j", task_id_for(i), 1, OutcomeKind.SUCCEEDED,
                                                     from_running=i == 0, result={}) for i in range(3)])
    contended_next()
    store.save_resume_token("j", "tok")
    contended_next()
    token = store.claim_resume("j")
    # Then each went through once, exactly
    assert len(result.applied) == 3 and result.finished_job
    assert token == "tok"
    job = store.get_job("j")
    assert job is not None and (job.remaining, job.running, job.succeeded, job.sent) == (0, 0, 3, 1)


def test_the_running_claim_rides_out_a_conflict_instead_of_raising_it(no_sleep: None, table: str, ddb: Any) -> None:
    flaky = Flaky(ddb, {})
    store = DynamoJobStore(table, flaky)
    store.create_job(Job(job_id="j", tenant="acme", name="n", status=JobStatus.RUNNING, created_at=NOW,
                         updated_at=NOW, total=1, remaining=1))
    store.write_tasks("j", [TaskRecord(job_id="j", task_id=task_id_for(0), index=0, type="echo",
                                       runtime=Runtime.LAMBDA, status=TaskStatus.PENDING, created_at=NOW,
                                       updated_at=NOW)], 1)
    # A claim whose counter item another transaction holds, three times over
    flaky.failures = {"transact_write_items": [cancelled("None", "TransactionConflict")] * 3}
    assert store.mark_running(TaskMessage(job_id="j", task_id=task_id_for(0), type="echo"), 1) is True
    job = store.get_job("j")
    assert job is not None and job.running == 1
