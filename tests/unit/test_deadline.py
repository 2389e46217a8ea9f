"""A task function under its timeout: the attempt stops waiting at the deadline."""

from __future__ import annotations

import threading

import pytest

from tasklane import builtin_tasks  # noqa: F401 - registers the built-in task types
from tasklane.attempts import OutcomeKind, run_attempt
from tasklane.deadline import call_with_timeout
from tasklane.errors import TaskTimedOut
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


def test_a_task_cannot_ask_for_more_than_its_runtimes_maximum_and_gets_its_default_without_one() -> None:
    from tasklane.errors import InvalidJob
    from tasklane.jobs import build_spec
    from tasklane.models import Runtime, TaskTimeouts

    timeouts = TaskTimeouts(default_seconds={Runtime.LAMBDA: 30, Runtime.EKS: 600},
                            max_seconds={Runtime.LAMBDA: 100, Runtime.EKS: 3600})

    class Task:
        type = "echo"
        payload: dict = {}
        runtime = Runtime.LAMBDA
        max_attempts = None
        timeout_seconds: int | None = 101

    with pytest.raises(InvalidJob, match=r"tasks\[0\].timeout_seconds: .*lambda runtime runs at most 100 s.*eks"):
        build_spec("too long", [Task()], registry, timeouts=timeouts)
    Task.runtime = Runtime.EKS
    assert build_spec("fine on eks", [Task()], registry, timeouts=timeouts).tasks[0].timeout_seconds == 101
    Task.timeout_seconds = 3601
    with pytest.raises(InvalidJob, match=r"eks runtime runs at most 3600 s$"):
        build_spec("too long on eks too", [Task()], registry, timeouts=timeouts)
    # Without a timeout, each runtime's default is written into the task: no task runs unbounded
    Task.timeout_seconds = None
    assert build_spec("default", [Task()], registry, timeouts=timeouts).tasks[0].timeout_seconds == 600
    Task.runtime = Runtime.LAMBDA
    assert build_spec("default", [Task()], registry, timeouts=timeouts).tasks[0].timeout_seconds == 30


def test_task_timeouts_refuse_a_default_above_the_maximum_or_a_missing_runtime() -> None:
    from pydantic import ValidationError

    from tasklane.models import Runtime, TaskTimeouts

    with pytest.raises(ValidationError, match="must be 1 to its maximum"):
        TaskTimeouts(default_seconds={Runtime.LAMBDA: 200, Runtime.EKS: 1},
                     max_seconds={Runtime.LAMBDA: 100, Runtime.EKS: 1})
    with pytest.raises(ValidationError, match="runtime eks"):
        TaskTimeouts(default_seconds={Runtime.LAMBDA: 1}, max_seconds={Runtime.LAMBDA: 1})
