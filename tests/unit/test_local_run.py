"""tasklane.testing.run_task: a task run in-process as the runtimes would run it."""

from __future__ import annotations

from typing import Any

import pytest

from tasklane.attempts import OutcomeKind
from tasklane.errors import NonRetryableTaskFailure, RetryTaskAfter
from tasklane.registry import TaskContext, TaskRegistry
from tasklane.testing import run_task


@pytest.fixture
def tasks() -> TaskRegistry:
    tasks = TaskRegistry()

    @tasks.task("resize", max_attempts=4)
    def resize(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        ctx.report_progress(0.5, "halfway")
        if ctx.attempt < payload.get("succeed_on", 1):
            raise ConnectionError("storage hiccup")
        if payload.get("width", 0) <= 0:
            raise NonRetryableTaskFailure("width must be positive")
        return {"width": payload["width"] // 2}

    @tasks.task("rate-limited", max_attempts=2)
    def rate_limited(payload: dict[str, Any], ctx: TaskContext) -> None:
        raise RetryTaskAfter(30, "upstream said 429")

    @tasks.task("stuck")
    def stuck(payload: dict[str, Any], ctx: TaskContext) -> None:
        import time

        time.sleep(3)

    return tasks


def test_a_task_that_succeeds_reports_its_result_and_progress(tasks: TaskRegistry) -> None:
    run = run_task("resize", {"width": 8}, tasks=tasks)
    assert run.succeeded and run.result == {"width": 4}
    assert run.progress == [(0.5, "halfway")]
    assert [a.attempt for a in run.attempts] == [1]


def test_retries_run_up_to_the_types_attempts_and_record_the_backoff_instead_of_waiting(tasks: TaskRegistry) -> None:
    run = run_task("resize", {"width": 8, "succeed_on": 3}, tasks=tasks)
    assert run.succeeded
    assert [a.kind for a in run.attempts] == [OutcomeKind.RETRY, OutcomeKind.RETRY, OutcomeKind.SUCCEEDED]
    assert run.attempts[0].error == "ConnectionError: storage hiccup"
    assert all(a.retry_delay_seconds > 0 for a in run.attempts[:2])


def test_without_retry_only_the_first_attempt_runs(tasks: TaskRegistry) -> None:
    run = run_task("resize", {"width": 8, "succeed_on": 3}, tasks=tasks, retry=False)
    assert run.status is OutcomeKind.RETRY and len(run.attempts) == 1


def test_a_task_out_of_attempts_fails_with_its_last_error(tasks: TaskRegistry) -> None:
    run = run_task("resize", {"width": 8, "succeed_on": 9}, tasks=tasks, max_attempts=2)
    assert run.status is OutcomeKind.FAILED and run.error == "ConnectionError: storage hiccup"
    assert len(run.attempts) == 2


def test_a_non_retryable_failure_ends_at_once(tasks: TaskRegistry) -> None:
    run = run_task("resize", {"width": 0}, tasks=tasks)
    assert run.status is OutcomeKind.FAILED and len(run.attempts) == 1
    assert run.error == "NonRetryableTaskFailure: width must be positive"


def test_a_retry_signal_records_the_delay_the_task_asked_for(tasks: TaskRegistry) -> None:
    run = run_task("rate-limited", tasks=tasks)
    assert run.attempts[0].kind is OutcomeKind.RETRY and run.attempts[0].retry_delay_seconds == 30
    assert run.status is OutcomeKind.FAILED and len(run.attempts) == 2


def test_the_timeout_is_enforced_as_in_the_runtimes(tasks: TaskRegistry) -> None:
    run = run_task("stuck", tasks=tasks, timeout_seconds=1, max_attempts=1)
    assert run.status is OutcomeKind.FAILED
    assert run.error == "TaskTimedOut: the task ran past its timeout of 1 s"


def test_an_unknown_type_fails_with_a_clear_error(tasks: TaskRegistry) -> None:
    run = run_task("nope", tasks=tasks)
    assert run.status is OutcomeKind.FAILED and run.error == "UnknownTaskType: no task type named 'nope'"


def test_the_built_in_types_are_there_by_default() -> None:
    run = run_task("fail", {"fail_times": 1})
    assert run.succeeded and run.result == {"succeeded_on_attempt": 2}
