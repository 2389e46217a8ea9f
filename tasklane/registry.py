"""The task registry: a task type is one Python function registered by name.

The Lambda runner and the long-task worker resolve task types through the same registry, so adding a
type is one decorated function in one place (tasklane/builtin_tasks.py or a module imported beside it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tasklane.models import DEFAULT_MAX_ATTEMPTS, Runtime


@dataclass
class TaskContext:
    """What a running task may know about itself and tell the platform."""

    job_id: str
    task_id: str
    attempt: int
    report_progress: Callable[[float, str | None], None] = field(default=lambda progress, message=None: None)


TaskFunction = Callable[[dict[str, Any], TaskContext], Any]
# Checks a payload at submission against the longest a task of its runtime may run (its maximum timeout, in
# seconds); raises ValueError naming the field (e.g. "payload.seconds: ..."), so bad input is refused before
# any job exists.
PayloadCheck = Callable[[dict[str, Any], int], None]


@dataclass(frozen=True)
class TaskType:
    name: str
    function: TaskFunction
    default_runtime: Runtime
    max_attempts: int
    check: PayloadCheck | None = None


class TaskRegistry:
    def __init__(self) -> None:
        self._types: dict[str, TaskType] = {}

    def task(
        self,
        name: str,
        *,
        runtime: Runtime = Runtime.LAMBDA,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        check: PayloadCheck | None = None,
    ) -> Callable[[TaskFunction], TaskFunction]:
        def register(function: TaskFunction) -> TaskFunction:
            if name in self._types:
                raise ValueError(f"task type {name!r} is registered twice")
            self._types[name] = TaskType(name, function, runtime, max_attempts, check)
            return function

        return register

    def get(self, name: str) -> TaskType | None:
        return self._types.get(name)

    def names(self) -> list[str]:
        return sorted(self._types)


registry = TaskRegistry()
