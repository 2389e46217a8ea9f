"""One task attempt: what run_attempt decides for each way a task can end, and the backoff it uses."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tasklane.attempts import MAX_RESULT_BYTES, OutcomeKind, run_attempt
from tasklane.backoff import Backoff
from tasklane.errors import NonRetryableTaskFailure, RetryTaskAfter
from tasklane.models import TaskMessage
from tasklane.registry import TaskContext, TaskRegistry, registry


def message(task_type: str, payload: dict[str, Any] | None = None, max_attempts: int = 3) -> TaskMessage:
    return TaskMessage(
        job_id="j1", task_id="t00000007", type=task_type, payload=payload or {}, max_attempts=max_attempts
    )


@pytest.fixture
def custom() -> TaskRegistry:
    reg = TaskRegistry()

    @reg.task("not_json")
    def not_json(payload: dict[str, Any], ctx: TaskContext) -> Any:
        return {"when": object()}

    @reg.task("nan")
    def nan(payload: dict[str, Any], ctx: TaskContext) -> Any:
        return {"x": float("nan")}

    @reg.task("huge")
    def huge(payload: dict[str, Any], ctx: TaskContext) -> Any:
        return {"blob": "x" * MAX_RESULT_BYTES}

    @reg.task("retry_after")
    def retry_after(payload: dict[str, Any], ctx: TaskContext) -> Any:
        raise RetryTaskAfter(42.5, "rate limited")

    @reg.task("final")
    def final(payload: dict[str, Any], ctx: TaskContext) -> Any:
        raise NonRetryableTaskFailure("cannot ever work")

    @reg.task("crash")
    def crash(payload: dict[str, Any], ctx: TaskContext) -> Any:
        raise KeyError("missing")

    @reg.task("whoami")
    def whoami(payload: dict[str, Any], ctx: TaskContext) -> Any:
        return {"job": ctx.job_id, "task": ctx.task_id, "attempt": ctx.attempt}

    return reg


def test_success_carries_the_result_and_identity() -> None:
    outcome = run_attempt(message("echo", {"a": 1}), 1, registry)
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert outcome.result == {"a": 1}
    assert (outcome.job_id, outcome.task_id, outcome.attempt) == ("j1", "t00000007", 1)
    assert outcome.error is None
    assert outcome.is_final


def test_the_task_sees_its_job_task_and_attempt(custom: TaskRegistry) -> None:
    assert run_attempt(message("whoami"), 2, custom).result == {"job": "j1", "task": "t00000007", "attempt": 2}


def test_unknown_type_fails_for_good() -> None:
    outcome = run_attempt(message("teleport"), 1, registry)
    assert outcome.kind is OutcomeKind.FAILED
    assert "teleport" in (outcome.error or "")


def test_a_failing_task_is_retried_until_max_attempts_then_fails() -> None:
    # Given a task that always fails and max_attempts=3
    msg = message("fail", {"message": "boom"}, max_attempts=3)
    # When attempts 1 and 2 run, Then each asks for a retry with a backoff delay
    for attempt in (1, 2):
        outcome = run_attempt(msg, attempt, registry)
        assert outcome.kind is OutcomeKind.RETRY
        assert not outcome.is_final
        assert 0.0 <= outcome.retry_delay_seconds <= Backoff().ceiling(attempt)
        assert outcome.error is not None and outcome.error.startswith("TaskFailure: boom")
    # And attempt 3 is final
    last = run_attempt(msg, 3, registry)
    assert last.kind is OutcomeKind.FAILED
    assert "boom" in (last.error or "")


def test_fail_times_succeeds_once_the_failures_are_used_up() -> None:
    msg = message("fail", {"fail_times": 1}, max_attempts=3)
    assert run_attempt(msg, 1, registry).kind is OutcomeKind.RETRY
    assert run_attempt(msg, 2, registry).kind is OutcomeKind.SUCCEEDED


def test_any_exception_is_a_retryable_failure(custom: TaskRegistry) -> None:
    outcome = run_attempt(message("crash"), 1, custom)
    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.error == "KeyError: 'missing'"


def test_non_retryable_fails_at_attempt_one(custom: TaskRegistry) -> None:
    outcome = run_attempt(message("final", max_attempts=5), 1, custom)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.attempt == 1
    assert outcome.error == "NonRetryableTaskFailure: cannot ever work"


def test_bad_builtin_payload_fails_at_attempt_one() -> None:
    assert run_attempt(message("hash", {"data": 1}), 1, registry).kind is OutcomeKind.FAILED


def test_retry_task_after_delay_is_honoured(custom: TaskRegistry) -> None:
    outcome = run_attempt(message("retry_after"), 1, custom, backoff=Backoff(base_seconds=0, cap_seconds=0))
    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.retry_delay_seconds == 42.5
    assert "rate limited" in (outcome.error or "")


def test_retry_task_after_on_the_last_attempt_fails(custom: TaskRegistry) -> None:
    assert run_attempt(message("retry_after", max_attempts=2), 2, custom).kind is OutcomeKind.FAILED


@pytest.mark.parametrize("task_type", ["not_json", "nan", "huge"])
def test_a_result_that_cannot_be_stored_fails_for_good(custom: TaskRegistry, task_type: str) -> None:
    outcome = run_attempt(message(task_type, max_attempts=3), 1, custom)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.result is None
    assert "result" in (outcome.error or "")


def test_backoff_delay_stays_within_half_the_ceiling_and_the_ceiling() -> None:
    backoff = Backoff(base_seconds=2.0, cap_seconds=900.0)
    rng = random.Random(7)
    for attempt in range(1, 15):
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(backoff.ceiling(attempt) / 2 <= d <= backoff.ceiling(attempt) for d in delays)
    # equal jitter: the delays spread over the upper half rather than sitting at one value
    spread = [backoff.delay(4, rng) for _ in range(500)]
    assert min(spread) < 0.6 * backoff.ceiling(4) < 0.9 * backoff.ceiling(4) < max(spread)
    # and each task's delays grow: the shortest wait after attempt n+1 is no shorter than the longest after n
    assert min(backoff.delay(5, rng) for _ in range(200)) >= max(backoff.delay(4, rng) for _ in range(200))


def test_backoff_ceiling_doubles_then_caps() -> None:
    backoff = Backoff(base_seconds=2.0, cap_seconds=60.0)
    assert [backoff.ceiling(a) for a in range(1, 8)] == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert backoff.ceiling(0) == 2.0
    assert Backoff().ceiling(100) == 900.0
