"""Graceful shutdown: stop polling, drain running tasks, hand back unstarted messages, exit codes."""

from __future__ import annotations

import os
import signal
import threading
import time

from worker_fakes import Harness, delivery, eventually

from tasklane.deliveries import Delivery
from workers.metrics import Counter
from workers.signals import install_stop_handlers
from workers.worker import ExitCode


def blocking(task_id: str, gate: str = "g") -> Delivery:
    return delivery(task_id, type="block", payload={"gate": gate})


def test_stop_drains_running_tasks_and_hands_back_unstarted_ones() -> None:
    # Given one slot busy with a task and a second message prefetched behind it
    harness = Harness(concurrency=1, prefetch=1)
    try:
        harness.send(blocking("t1"), blocking("t2"))
        harness.start()
        assert harness.has_started("g").wait(3)
        assert harness.worker.is_ready()

        # When the worker is told to stop (what SIGTERM does)
        harness.worker.request_stop()

        # Then it is no longer ready, and the unstarted message goes straight back to the queue
        assert not harness.worker.is_ready()
        eventually(lambda: harness.consumer.handed_back() == ["rh-t2"])
        polls = len(harness.consumer.receives)

        # ... while the running task is allowed to finish, and is committed and deleted
        harness.gate("g").set()
        assert harness.join() is ExitCode.DRAINED
        assert harness.consumer.deleted() == ["rh-t1"]
        assert harness.store.status("t1") == "SUCCEEDED"
        assert harness.store.status("t2") == "PENDING"
        assert len(harness.consumer.receives) == polls, "polled after the stop"
    finally:
        harness.close()


def test_what_a_long_poll_brings_in_after_the_stop_is_handed_back_unstarted() -> None:
    # Given an idle worker in the middle of a long poll
    harness = Harness(concurrency=1)
    harness.consumer.hold_polls = threading.Event()
    try:
        harness.start()
        assert harness.consumer.polling.wait(3)

        # When it is stopped, and only then does the poll return a message
        harness.send(delivery("t1"))
        harness.worker.request_stop()
        harness.consumer.hold_polls.set()

        # Then the drain waits for that poll and hands its message straight back, without running it
        assert harness.join() is ExitCode.DRAINED
        assert harness.consumer.handed_back() == ["rh-t1"]
        assert harness.metrics.count(Counter.STARTED) == 0
        assert harness.store.status("t1") == "PENDING"
    finally:
        harness.close()


def test_a_drain_that_outlasts_its_deadline_hands_back_the_running_tasks() -> None:
    # Given a task that will not finish within the drain deadline
    harness = Harness(concurrency=1, drain_seconds=0.2)
    try:
        harness.send(blocking("t1"))
        harness.start()
        assert harness.has_started("g").wait(3)

        # When the worker is stopped
        started = time.monotonic()
        harness.worker.request_stop()

        # Then it gives up at the deadline, hands the message back for another worker, and says so
        assert harness.join() is ExitCode.DEADLINE
        assert 0.2 <= time.monotonic() - started < 2
        assert harness.consumer.handed_back() == ["rh-t1"]
        assert harness.consumer.deleted() == []
    finally:
        harness.close()


def test_a_second_stop_forces_the_exit_at_once() -> None:
    # Given a task running and one waiting, and a long drain allowance
    harness = Harness(concurrency=1, prefetch=1, drain_seconds=30)
    try:
        harness.send(blocking("t1"), blocking("t2"))
        harness.start()
        assert harness.has_started("g").wait(3)
        harness.worker.request_stop()
        eventually(lambda: "rh-t2" in harness.consumer.handed_back())

        # When a second stop arrives
        started = time.monotonic()
        harness.worker.request_stop()

        # Then the worker exits at once with 130, having handed back every message it held
        assert harness.join(timeout=2) is ExitCode.FORCED
        assert time.monotonic() - started < 1
        assert sorted(harness.consumer.handed_back()) == ["rh-t1", "rh-t2"]
        assert harness.metrics.count(Counter.SUCCEEDED) == 0
    finally:
        harness.close()


def test_sigterm_then_sigint_drive_the_same_shutdown() -> None:
    # Given a worker on the main thread, where Python delivers signals, with a task running
    harness = Harness(concurrency=1, drain_seconds=3)
    harness.send(blocking("t1"))
    restore = install_stop_handlers(harness.worker.request_stop)
    readiness: list[bool] = []

    def send_signals() -> None:
        assert harness.has_started("g").wait(3)
        os.kill(os.getpid(), signal.SIGTERM)
        eventually(lambda: not harness.worker.is_ready())
        readiness.append(harness.worker.is_ready())
        os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=send_signals, daemon=True)
    sender.start()
    try:
        # When SIGTERM and then SIGINT arrive
        code = harness.worker.run()
    finally:
        restore()
        harness.close()

    # Then the first turned readiness off and the second forced the exit
    assert readiness == [False]
    assert code is ExitCode.FORCED
    assert harness.consumer.handed_back() == ["rh-t1"]
