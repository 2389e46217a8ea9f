"""Progress reports landing in the task record, and cooperative cancellation when they are refused."""

from __future__ import annotations

import threading

import pytest
from worker_fakes import FakeStore, Harness, delivery, eventually

from tasklane.models import TaskMessage
from workers.metrics import Counter
from workers.progress import ProgressReporter, TaskCancelled, WorkerTaskContext, task_context
from workers.worker import ExitCode

MESSAGE = TaskMessage(job_id="job-1", task_id="t1", type="report", payload={})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def running_store() -> FakeStore:
    store = FakeStore()
    store.add("t1", status="RUNNING", attempts=2)
    return store


def test_a_report_lands_in_the_task_record_for_this_attempt() -> None:
    store = running_store()
    context = task_context(store, MESSAGE, attempt=2)

    context.report_progress(0.25, "a quarter")

    assert store.progress == [("job-1", "t1", 2, 0.25, "a quarter")]
    assert isinstance(context, WorkerTaskContext) and not context.cancelled


def test_reports_closer_than_the_interval_are_dropped() -> None:
    # Given a reporter that lands at most one report a second
    store, clock = running_store(), Clock()
    report = ProgressReporter(store, MESSAGE, 2, threading.Event(), clock=clock, min_interval_seconds=1.0)

    # When the task reports at 0, 0.5 and 1.0 s
    for at, progress in ((0.0, 0.1), (0.5, 0.2), (1.0, 0.3)):
        clock.now = at
        report(progress, None)

    # Then the one in between is dropped
    assert [p[3] for p in store.progress] == [0.1, 0.3]


def test_a_refused_report_cancels_the_attempt() -> None:
    # Given the task was cancelled while this attempt ran
    store = running_store()
    store.cancel("t1")
    context = task_context(store, MESSAGE, attempt=2)

    # When the task reports progress, it is stopped there, and the context says why
    with pytest.raises(TaskCancelled):
        context.report_progress(0.5, None)
    assert context.cancelled

    # ... and every later report stops it again without another write
    with pytest.raises(TaskCancelled):
        context.report_progress(0.6, None)
    assert len(store.progress) == 1


def test_task_cancelled_is_not_swallowed_by_except_exception() -> None:
    # A task's own broad handler must not keep an abandoned attempt running.
    with pytest.raises(TaskCancelled):
        try:
            raise TaskCancelled("stop")
        except Exception:  # noqa: BLE001 - the point of the test
            pytest.fail("TaskCancelled was caught as an Exception")


def test_a_failing_progress_write_does_not_fail_the_task() -> None:
    class Unreachable(FakeStore):
        def record_progress(self, *args: object) -> bool:
            raise ConnectionError("table unreachable")

    context = task_context(Unreachable(), MESSAGE, attempt=2)
    context.report_progress(0.5, None)
    assert isinstance(context, WorkerTaskContext) and not context.cancelled


def test_the_worker_abandons_a_cancelled_task_at_its_next_report_and_acknowledges_it() -> None:
    # Given a long task reporting progress as it goes
    harness = Harness(concurrency=1)
    try:
        harness.send(delivery("t1", type="report"))
        harness.start()
        assert harness.has_started("t1").wait(3)
        eventually(lambda: harness.store.progress)
        assert harness.store.progress[0] == ("job-1", "t1", 1, 0.5, "half way")

        # When its job is cancelled, so record_progress starts returning False
        harness.store.cancel("t1")

        # Then the task stops at its next report, nothing is committed, and its message is deleted
        eventually(lambda: harness.consumer.deleted() == ["rh-t1"])
        context = harness.contexts["t1"]
        assert isinstance(context, WorkerTaskContext) and context.cancelled
        assert harness.store.commits == []
        assert harness.store.status("t1") == "CANCELLED"
        assert harness.metrics.count(Counter.DISCARDED) == 1
        assert harness.stop() is ExitCode.DRAINED
    finally:
        harness.close()
