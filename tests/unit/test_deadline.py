"""A task function under its timeout: the attempt stops waiting at the deadline."""

from __future__ import annotations

import threading

import pytest

from tasklane import builtin_tasks  # noqa: F401 - registers the built-in task types
from tasklane.deadline import call_with_timeout
from tasklane.errors import TaskTimedOut
from tasklane.execution import OutcomeKind, run_attempt
from tasklane.models import TaskMessage
from tasklane.registry import registry


def test_a_function_that_ends_in_time_returns_its_result() -> None:
    assert call_with_timeout(lambda: {"ok": 1}, 5) == {"ok": 1}


def test_without_a_timeout_the_function_runs_in_the_callers_thread() -> None:
    assert call_with_timeout(threading.current_thread, None) is threading.current_thread()


def test_a_function_past_its_deadline_times_out() -> None:
    release = threading.Event()
    with pytest.raises(TaskTimedOut, match=r"timeout of 0\.1 s"):
        call_with_timeout(lambda: release.wait(10), 0.1)
    release.set()


def test_the_functions_own_error_reaches_the_caller() -> None:
    with pytest.raises(ZeroDivisionError):
        call_with_timeout(lambda: 1 / 0, 5)


def test_a_sleep_task_past_its_timeout_is_retried_then_failed() -> None:
    # Given a sleep task of 5 s allowed 0.2 s, with two attempts
    message = TaskMessage(job_id="j", task_id="t", type="sleep", payload={"seconds": 5}, timeout_seconds=1,
                          max_attempts=2)
    message = message.model_copy(update={"timeout_seconds": 0.2})

    # When attempts 1 and 2 run
    first = run_attempt(message, 1, registry)
    last = run_attempt(message, 2, registry)

    # Then the first is retried and the last fails, each for its timeout
    assert first.kind is OutcomeKind.RETRY and "TaskTimedOut" in (first.error or "")
    assert last.kind is OutcomeKind.FAILED and "TaskTimedOut" in (last.error or "")


def test_a_lambda_task_cannot_ask_for_more_than_the_runner_allows() -> None:
    from tasklane.errors import InvalidJob
    from tasklane.jobs import LAMBDA_TASK_MAX_SECONDS, build_spec
    from tasklane.models import Runtime

    class Task:
        type = "echo"
        payload: dict = {}
        runtime = Runtime.LAMBDA
        max_attempts = None
        timeout_seconds = LAMBDA_TASK_MAX_SECONDS + 1

    with pytest.raises(InvalidJob, match=r"tasks\[0\].timeout_seconds.*runtime eks"):
        build_spec("too long", [Task()], registry)
    Task.runtime = Runtime.EKS
    assert build_spec("fine on eks", [Task()], registry).tasks[0].timeout_seconds == LAMBDA_TASK_MAX_SECONDS + 1
