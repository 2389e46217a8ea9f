"""Built-in task types, runnable in both runtimes; used by the demo and the tests."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from tasklane.errors import NonRetryableTaskFailure, TaskFailure
from tasklane.models import Runtime
from tasklane.registry import TaskContext, registry

SLEEP_PROGRESS_INTERVAL_SECONDS = 5.0
# One task must not hold a runtime's slot or core unbounded. A sleep is refused at submission when it is
# longer than any task of its runtime may run (its maximum timeout), and never runs past SLEEP_MAX_SECONDS;
# hash rounds take about 2.6 µs each on one core, so HASH_MAX_ROUNDS is about 13 s, well within the Lambda
# runtime's maximum timeout.
SLEEP_MAX_SECONDS = 3600.0
HASH_MAX_ROUNDS = 5_000_000


def _check_sleep(payload: dict[str, Any], max_timeout_seconds: int) -> None:
    seconds = _checked(lambda: _number(payload, "seconds", default=1.0))
    longest = min(SLEEP_MAX_SECONDS, max_timeout_seconds)
    if seconds > longest:
        raise ValueError(
            f"payload.seconds: {seconds:g} s is longer than a task of its runtime may run ({longest:g} s)"
        )


def _check_hash(payload: dict[str, Any], max_timeout_seconds: int) -> None:
    _checked(lambda: _whole(payload, "rounds", default=1, most=HASH_MAX_ROUNDS))


def _checked(read: Callable[[], float]) -> float:
    """The value `read` returns; its NonRetryableTaskFailure becomes the ValueError a submission check raises."""
    try:
        return read()
    except NonRetryableTaskFailure as exc:
        raise ValueError(str(exc)) from None


@registry.task("echo")
def echo(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return payload


@registry.task("sleep", runtime=Runtime.EKS, check=_check_sleep)
def sleep(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    seconds = _number(payload, "seconds", default=1.0, most=SLEEP_MAX_SECONDS)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, SLEEP_PROGRESS_INTERVAL_SECONDS))
        if seconds > SLEEP_PROGRESS_INTERVAL_SECONDS:
            ctx.report_progress(min(1.0, 1 - max(0.0, deadline - time.monotonic()) / seconds), None)
    return {"slept": seconds}


@registry.task("fail")
def fail(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    message = str(payload.get("message", "task failed on purpose"))
    fail_times = payload.get("fail_times")
    if fail_times is None:
        raise TaskFailure(message)
    if ctx.attempt <= _whole(payload, "fail_times"):
        raise TaskFailure(f"{message} (attempt {ctx.attempt} of the first {fail_times} that fail)")
    return {"succeeded_on_attempt": ctx.attempt}


@registry.task("hash", check=_check_hash)
def sha256_rounds(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    data = payload.get("data", "")
    if not isinstance(data, str):
        raise NonRetryableTaskFailure("payload.data must be a string")
    rounds = _whole(payload, "rounds", default=1, most=HASH_MAX_ROUNDS)
    digest = data.encode()
    for _ in range(rounds):
        digest = hashlib.sha256(digest).hexdigest().encode()
    return {"sha256": digest.decode(), "rounds": rounds}


def _number(payload: dict[str, Any], key: str, default: float, most: float | None = None) -> float:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= (most or float("inf")):
        bound = f" of at most {most:g}" if most is not None else ""
        raise NonRetryableTaskFailure(f"payload.{key} must be a non-negative number{bound}")
    return float(value)


def _whole(payload: dict[str, Any], key: str, default: int = 0, most: int | None = None) -> int:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (most is not None and value > most):
        bound = f" of at most {most:,}" if most is not None else ""
        raise NonRetryableTaskFailure(f"payload.{key} must be a non-negative integer{bound}")
    return value
