"""Running a task function under its timeout.

Python cannot kill a thread, so the function runs in a daemon thread and the attempt stops waiting for
it at the deadline: the attempt fails with TaskTimedOut (retried like any failure). A long task that
keeps running finds out at its next progress report, which no longer lands once its attempt has ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tasklane.errors import TaskTimedOut


def call_with_timeout(function: Callable[[], Any], timeout_seconds: float | None) -> Any:
    if timeout_seconds is None:
        return function()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as it is
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="task", daemon=True)
    worker.start()
    worker.join(timeout_seconds)
    if worker.is_alive():
        raise TaskTimedOut(f"the task ran past its timeout of {timeout_seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")
