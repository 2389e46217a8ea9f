"""Built-in task types, runnable in both runtimes; used by the demo and the tests."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from tasklane.errors import NonRetryableTaskFailure, TaskFailure
from tasklane.models import Runtime
from tasklane.registry import TaskContext, registry

SLEEP_PROGRESS_INTERVAL_SECONDS = 5.0


@registry.task("echo")
def echo(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return payload


@registry.task("sleep", runtime=Runtime.EKS)
def sleep(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    seconds = _number(payload, "seconds", default=1.0)
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


@registry.task("hash")
def sha256_rounds(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    data = payload.get("data", "")
    if not isinstance(data, str):
        raise NonRetryableTaskFailure("payload.data must be a string")
    rounds = _whole(payload, "rounds", default=1)
    digest = data.encode()
    for _ in range(rounds):
        digest = hashlib.sha256(digest).hexdigest().encode()
    return {"sha256": digest.decode(), "rounds": rounds}


def _number(payload: dict[str, Any], key: str, default: float) -> float:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise NonRetryableTaskFailure(f"payload.{key} must be a non-negative number")
    return float(value)


def _whole(payload: dict[str, Any], key: str, default: int = 0) -> int:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NonRetryableTaskFailure(f"payload.{key} must be a non-negative integer")
    return value
