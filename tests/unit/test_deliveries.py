"""DeliveryHandler: one delivery to one attempt, attempts counted across runs, stopping jobs skipped, windows
released."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import InMemoryJobStore, RecordingRetries, RecordingWorkflow

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.claims import TaskClaim
from tasklane.deliveries import Delivery, DeliveryHandler, RetryScheduled
from tasklane.models import Job, JobStatus, Runtime, StopReason, TaskMessage, TaskRecord, TaskStatus, task_id_for
from tasklane.registry import TaskContext, TaskRegistry

NOW = "2026-01-01T00:00:00.000Z"


class Harness:
    def __init__(self, tasks: int = 3, windowed: bool = False) -> None:
        self.store = InMemoryJobStore()
        self.workflow = RecordingWorkflow()
        self.retries = RecordingRetries()
        self.ran: list[tuple[dict[str, Any], int]] = []
        self.releases: list[tuple[str, str, int]] = []
        self.loaded: list[str] = []
        self.registry = TaskRegistry()

        @self.registry.task("record")
        def record(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
            self.ran.append((payload, ctx.attempt))
            if payload.get("fail"):
                raise RuntimeError("flaky")
            return {"got": payload}

        self.store.create_job(Job(
            job_id="job1", tenant="acme", name="n", status=JobStatus.RUNNING, created_at=NOW, updated_at=NOW,
            total=tasks, remaining=tasks, max_concurrency=1 if windowed else None,
        ))
        self.store.write_tasks("job1", [
            TaskRecord(job_id="job1", task_id=task_id_for(i), index=i, type="record", runtime=Runtime.LAMBDA,
                       status=TaskStatus.PENDING, created_at=NOW, updated_at=NOW)
            for i in range(tasks)
        ], tasks)
        self.sent_later: list[tuple[TaskMessage, float]] = []
        self.now = 1_000_000.0
        self.runner = DeliveryHandler(
            store=self.store, resumer=self.workflow, retries=self.retries, registry=self.registry,
            load_payload=self.load, release=self.release,
            send_later=lambda message, delay: self.sent_later.append((message, delay)), clock=lambda: self.now,
        )

    def load(self, ref: str) -> dict[str, Any]:
        self.loaded.append(ref)
        return {"from": ref}

    def release(self, job_id: str, tenant: str, count: int) -> int:
        self.releases.append((job_id, tenant, count))
        return count


def claim_of(h: Harness, given: Delivery, *, eager: bool) -> TaskClaim:
    message = TaskMessage.model_validate_json(given.body)
    return TaskClaim(h.store, message, message.attempt(given.attempt), eager=eager)


def delivery(index: int, receive_count: int = 1, **fields: Any) -> Delivery:
    message = TaskMessage(job_id="job1", task_id=task_id_for(index), tenant="acme", type="record", **fields)
    return Delivery(message_id=f"m{index}", body=message.model_dump_json(), receipt_handle=f"rh{index}",
                    attempt=receive_count)


def test_a_task_of_a_stopping_job_is_not_started() -> None:
    h = Harness()
    assert h.runner.run(delivery(0), stopping_jobs={"job1"}) is None
    assert h.ran == []
    assert h.store.get_task("job1", task_id_for(0)).status is TaskStatus.PENDING  # type: ignore[union-attr]
    # another job's stop does not hold it back
    outcome = h.runner.run(delivery(0), stopping_jobs={"job2"})
    assert outcome is not None and outcome.kind is OutcomeKind.SUCCEEDED


def test_a_claimed_task_of_a_job_that_stops_is_not_run() -> None:
    h = Harness()
    h.store.request_stop("job1", StopReason.CANCELLED)
    assert h.runner.run(delivery(0), claim=claim_of(h, delivery(0), eager=True)) is None
    assert h.ran == []


def test_a_payload_stored_by_reference_is_loaded_before_the_task_runs() -> None:
    h = Harness()
    outcome = h.runner.run(delivery(0, payload_ref="payloads/job1/t00000000.json"))
    assert h.loaded == ["payloads/job1/t00000000.json"]
    assert h.ran == [({"from": "payloads/job1/t00000000.json"}, 1)]
    assert outcome is not None and outcome.result == {"got": {"from": "payloads/job1/t00000000.json"}}


def test_a_payload_by_reference_without_a_loader_is_an_error_not_a_task_failure() -> None:
    h = Harness()
    h.runner.load_payload = None
    with pytest.raises(RuntimeError, match="by reference"):
        h.runner.run(delivery(0, payload_ref="payloads/x.json"))
    assert h.ran == []


def test_the_attempt_continues_from_earlier_runs() -> None:
    h = Harness()
    # a task that used 3 attempts in run 0, redelivered for the 2nd time in run 1
    outcome = h.runner.run(delivery(0, receive_count=2, attempt_offset=3, max_attempts=3))
    assert h.ran == [({}, 5)]
    assert outcome is not None and outcome.attempt == 5


def test_a_rerun_task_gets_a_fresh_budget_of_attempts() -> None:
    h = Harness()
    with pytest.raises(RetryScheduled):
        h.runner.run(delivery(0, receive_count=2, attempt_offset=3, max_attempts=3, payload={"fail": True}))
    assert h.store.get_task("job1", task_id_for(0)).attempts == 5  # type: ignore[union-attr]
    assert [handle for handle, _ in h.retries.scheduled] == ["rh0"]
    last = h.runner.run(delivery(0, receive_count=3, attempt_offset=3, max_attempts=3, payload={"fail": True}))
    assert last is not None and (last.kind, last.attempt) == (OutcomeKind.FAILED, 6)


def test_a_claimed_attempt_is_offset_too() -> None:
    h = Harness()
    given = delivery(1, receive_count=1, attempt_offset=2)
    outcome = h.runner.run(given, claim=claim_of(h, given, eager=True))
    assert outcome is not None and (outcome.attempt, outcome.from_running) == (3, True)
    h.runner.commit([outcome])
    task = h.store.get_task("job1", task_id_for(1))
    assert task is not None and (task.status, task.attempts) == (TaskStatus.SUCCEEDED, 3)
    assert h.store.get_job("job1").running == 0  # type: ignore[union-attr]


def test_each_ended_task_of_a_windowed_job_releases_one_more_in_one_call() -> None:
    h = Harness(tasks=4, windowed=True)
    ended = [h.runner.run(delivery(i, windowed=True)) for i in range(2)]
    failed = TaskOutcome("job1", task_id_for(2), 1, OutcomeKind.FAILED, error="E: x", tenant="acme",
                         task_type="record", windowed=True)
    duplicate = ended[0]

    report = h.runner.commit([*ended, failed, duplicate])  # type: ignore[list-item]

    assert len(report.applied) == 3 and len(report.stale) == 1
    # one release for the job, counting the three tasks that ended (not the duplicate)
    assert h.releases == [("job1", "acme", 3)]


def test_a_retry_of_a_windowed_task_releases_nothing() -> None:
    h = Harness(windowed=True)
    with pytest.raises(RetryScheduled):
        h.runner.run(delivery(0, windowed=True, payload={"fail": True}))
    assert h.releases == []


def test_tasks_of_unwindowed_jobs_release_nothing() -> None:
    h = Harness()
    h.runner.commit([h.runner.run(delivery(i)) for i in range(3)])  # type: ignore[misc]
    assert h.releases == []
    assert h.store.get_job("job1").remaining == 0  # type: ignore[union-attr]


def test_a_body_that_is_not_a_task_raises() -> None:
    h = Harness()
    with pytest.raises(ValueError, match="validation error"):
        h.runner.run(Delivery(message_id="m", body='{"job_id": "job1"}', receipt_handle="rh", attempt=1))


def bundle(indexes: list[int], receive_count: int = 1, **fields: Any) -> tuple[Delivery, list[TaskMessage]]:
    tasks = [
        TaskMessage(job_id="job1", task_id=task_id_for(i), tenant="acme", type="record", **fields) for i in indexes
    ]
    return Delivery(message_id="b", body="(bundle)", receipt_handle="rhb", attempt=receive_count), tasks


def test_a_bundle_runs_each_of_its_tasks_and_returns_their_outcomes() -> None:
    h = Harness()
    finals = h.runner.run_bundle(*bundle([0, 1, 2]))
    assert [(o.task_id, o.kind, o.attempt) for o in finals] == [
        (task_id_for(i), OutcomeKind.SUCCEEDED, 1) for i in range(3)
    ]
    assert h.sent_later == [] and h.retries.scheduled == []


def test_a_bundled_task_due_for_a_retry_leaves_its_bundle_as_a_delayed_message_of_its_own() -> None:
    # Given a bundle of three whose middle task fails its first attempt
    h = Harness()
    delivery_, tasks = bundle([0, 1, 2])
    tasks[1] = tasks[1].model_copy(update={"payload": {"fail": True}})
    # When the bundle runs
    finals = h.runner.run_bundle(delivery_, tasks)
    # Then its siblings end, the failed attempt is recorded, and the task goes out alone, after its backoff
    assert [o.task_id for o in finals] == [task_id_for(0), task_id_for(2)]
    assert h.store.get_task("job1", task_id_for(1)).attempts == 1  # type: ignore[union-attr]
    ((message, delay),) = h.sent_later
    assert message.task_id == task_id_for(1) and delay > 0 and h.retries.scheduled == []
    # And its first receive on its own, once due, is attempt 2, not 1
    h.now += delay
    second = Delivery(message_id="m", body=message.model_dump_json(), receipt_handle="rh", attempt=1)
    assert message.attempt(1) == 2
    with pytest.raises(RetryScheduled):
        h.runner.run(second)
    assert h.ran[-1] == ({"fail": True}, 2)


def test_a_retry_longer_than_sqs_can_delay_is_waited_out_in_hops() -> None:
    h = Harness()
    message = TaskMessage(job_id="job1", task_id=task_id_for(0), tenant="acme", type="record",
                          earlier_receives=1, not_before=h.now + 3600)
    # Received 15 minutes later: not run, sent on for the rest of the wait, its attempt number kept
    h.now += 900
    early = Delivery(message_id="m", body=message.model_dump_json(), receipt_handle="rh", attempt=1)
    assert h.runner.run(early) is None
    assert h.ran == []
    ((again, delay),) = h.sent_later
    assert delay == 2700 and again.not_before == message.not_before and again.attempt(1) == 2
    # Received when due: it runs as attempt 2
    h.now = message.not_before
    outcome = h.runner.run(Delivery(message_id="m", body=again.model_dump_json(), receipt_handle="rh", attempt=1))
    assert outcome is not None and outcome.attempt == 2 and h.ran == [({}, 2)]


def test_tasks_there_is_no_time_left_to_start_are_sent_on_with_their_attempt_unspent() -> None:
    h = Harness()
    left = iter([60.0, 10.0, 10.0])
    finals = h.runner.run_bundle(*bundle([0, 1, 2], attempt_offset=3), time_left=lambda: next(left))
    assert [o.task_id for o in finals] == [task_id_for(0)]
    assert [(m.task_id, d, m.attempt(1)) for m, d in h.sent_later] == [(task_id_for(1), 0, 4), (task_id_for(2), 0, 4)]
    assert all(m.not_before is None for m, _ in h.sent_later)


def test_a_bundle_that_came_back_sends_each_task_on_alone_instead_of_running_them_together() -> None:
    # Given a bundle received a second time: its runner died on it (one of its tasks may be what killed it)
    h = Harness()
    # When it is run again, Then nothing runs; each task goes on alone, the lost receive counted as attempt 1
    assert h.runner.run_bundle(*bundle([0, 1, 2], receive_count=2)) == []
    assert h.ran == []
    assert [(m.task_id, d, m.attempt(1)) for m, d in h.sent_later] == [(task_id_for(i), 0, 2) for i in range(3)]


def test_a_bundled_task_with_a_timeout_is_not_started_without_time_for_it() -> None:
    h = Harness()
    finals = h.runner.run_bundle(*bundle([0], timeout_seconds=60), time_left=lambda: 70.0)
    assert finals == [] and [m.task_id for m, _ in h.sent_later] == [task_id_for(0)]


def test_bundled_tasks_of_a_stopping_job_are_not_started() -> None:
    h = Harness()
    assert h.runner.run_bundle(*bundle([0, 1]), stopping_jobs={"job1"}) == []
    assert h.ran == [] and h.sent_later == []


def test_a_runner_that_cannot_send_a_task_alone_refuses_bundles() -> None:
    h = Harness()
    h.runner.send_later = None
    with pytest.raises(RuntimeError, match="bundles"):
        h.runner.run_bundle(*bundle([0]))


def test_a_lazy_claim_nobody_asked_for_is_never_taken_and_the_task_commits_from_pending() -> None:
    h = Harness()
    outcome = h.runner.run(delivery(0), claim=claim_of(h, delivery(0), eager=False))
    assert outcome is not None and (outcome.kind, outcome.from_running) == (OutcomeKind.SUCCEEDED, False)
    assert h.store.get_job("job1").running == 0  # type: ignore[union-attr]
    assert h.runner.commit([outcome]).applied == [outcome]


def test_a_lazy_claim_taken_while_the_task_runs_makes_its_outcome_commit_from_running() -> None:
    # Given a task that is claimed mid-run (as a progress report or the worker's timer would)
    h = Harness()
    claim = claim_of(h, delivery(0), eager=False)

    @h.registry.task("claimed")
    def claimed(payload: dict[str, Any], ctx: TaskContext) -> str:
        assert claim.take()
        return "ok"

    given = Delivery(message_id="m", receipt_handle="rh", attempt=1, body=TaskMessage(
        job_id="job1", task_id=task_id_for(0), tenant="acme", type="claimed").model_dump_json())
    # When it ends
    outcome = h.runner.run(given, claim=claim)
    # Then its outcome leaves RUNNING, and the claim cannot be taken again once the attempt ended
    assert outcome is not None and outcome.from_running
    assert h.store.get_job("job1").running == 1  # type: ignore[union-attr]
    h.runner.commit([outcome])
    assert h.store.get_job("job1").running == 0  # type: ignore[union-attr]
    assert not claim.take()


def test_a_bundled_task_due_for_a_retry_is_sent_on_alone_and_reported_as_scheduled() -> None:
    h = Harness()
    message = TaskMessage(job_id="job1", task_id=task_id_for(1), tenant="acme", type="record", payload={"fail": 1})
    bundle = Delivery(message_id="b", body="{}", receipt_handle="rh", attempt=1)
    with pytest.raises(RetryScheduled):
        h.runner.run_bundled(bundle, message)
    assert [(m.task_id, m.earlier_receives) for m, _ in h.sent_later] == [(task_id_for(1), 1)]
    assert h.retries.scheduled == []  # the bundle's own message is not hidden for one task's retry


def test_a_task_longer_than_the_runtime_grants_is_cut_to_its_maximum_and_run_not_sent_on_for_ever() -> None:
    # A long task's message that came to the short queue (timeout 900 s) on a runtime whose tasks get at most
    # 100 s: a fresh invocation (119 s left) runs it, under 100 s, instead of sending it on again and again
    h = Harness()
    h.runner.max_timeout_seconds = 100
    finals = h.runner.run_bundle(*bundle([0], timeout_seconds=900), time_left=lambda: 119.0)
    assert [o.task_id for o in finals] == [task_id_for(0)] and h.sent_later == []
    assert h.runner._bounded(TaskMessage(job_id="j", task_id="t", type="record", timeout_seconds=900)).timeout_seconds \
        == 100
    assert h.runner._bounded(TaskMessage(job_id="j", task_id="t", type="record", timeout_seconds=30)).timeout_seconds \
        == 30
