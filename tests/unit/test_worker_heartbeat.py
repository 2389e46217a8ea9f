"""Visibility extensions: on schedule, before the timeout runs out, batched across held messages."""

from __future__ import annotations

import pytest
from worker_fakes import FakeConsumer, FakeRetries, Harness, delivery, eventually

from workers.heartbeat import Heartbeat

VISIBILITY = 30
INTERVAL = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(consumer: FakeConsumer, clock: Clock) -> Heartbeat:
    return Heartbeat(consumer, visibility_seconds=VISIBILITY, interval_seconds=INTERVAL, clock=clock)


@pytest.mark.parametrize("tick", [0.5, 7.0, 15.0], ids=["prompt loop", "slow loop", "loop late by half the margin"])
def test_every_message_is_extended_before_its_visibility_runs_out(tick: float) -> None:
    # Given three messages received at different times, and a loop ticking every `tick` seconds
    consumer, clock = FakeConsumer(), Clock()
    heartbeat = make(consumer, clock)
    hidden_until = {}
    for handle, received_at in (("a", 0.0), ("b", 0.0), ("c", 4.0)):
        heartbeat.track(handle, received_at)
        hidden_until[handle] = received_at + VISIBILITY

    # When the loop beats for ten minutes
    while clock.now < 600:
        clock.now += tick
        calls_before = len(consumer.visibility)
        heartbeat.beat()
        for handles, timeout in consumer.visibility[calls_before:]:
            for handle in handles:
                # Then no extension ever comes after the message became visible again
                assert clock.now < hidden_until[handle], f"{handle} was visible before its extension"
                hidden_until[handle] = clock.now + timeout
        assert all(clock.now < until for until in hidden_until.values())

    assert {timeout for _, timeout in consumer.visibility} == {VISIBILITY}


def test_extensions_that_fall_due_together_go_out_in_one_batch() -> None:
    # Given two messages received together and a third received later
    consumer, clock = FakeConsumer(), Clock()
    heartbeat = make(consumer, clock)
    heartbeat.track("a", 0.0)
    heartbeat.track("b", 0.0)
    heartbeat.track("c", 6.0)

    # When the loop beats just before, at, and after the first interval
    clock.now = 9.9
    assert heartbeat.beat() == []
    clock.now = 10.0
    heartbeat.beat()
    clock.now = 16.0
    heartbeat.beat()

    # Then a and b are extended in one call, and c in its own when it falls due
    assert consumer.visibility == [(["a", "b"], VISIBILITY), (["c"], VISIBILITY)]
    assert heartbeat.next_due() == 20.0


def test_a_released_message_is_no_longer_extended() -> None:
    consumer, clock = FakeConsumer(), Clock()
    heartbeat = make(consumer, clock)
    heartbeat.track("a", 0.0)
    heartbeat.release("a")
    clock.now = 100.0
    assert heartbeat.beat() == []
    assert consumer.visibility == []


def test_a_failed_extension_is_tried_again_at_the_next_beat() -> None:
    # Given the queue is briefly unreachable when an extension falls due
    consumer, clock = FakeConsumer(), Clock()
    heartbeat = make(consumer, clock)
    heartbeat.track("a", 0.0)
    consumer.fail_visibility = True
    clock.now = 10.0
    assert heartbeat.beat() == []

    # When it is back a moment later, the extension goes out then
    consumer.fail_visibility = False
    clock.now = 10.5
    assert heartbeat.beat() == ["a"]


def test_a_scheduled_retry_stops_the_extensions_so_its_backoff_holds() -> None:
    # Given a held message whose task asks to be retried later
    consumer, clock = FakeConsumer(), Clock()
    heartbeat = make(consumer, clock)
    retries = FakeRetries()
    heartbeat.track("a", 0.0)

    # When the runner schedules the retry through the guarded scheduler
    heartbeat.guard(retries).retry_later("a", 120.0)

    # Then the retry's own visibility stands: no extension follows it
    clock.now = 60.0
    assert heartbeat.beat() == []
    assert retries.calls == [("a", 120.0)]


def test_an_interval_that_leaves_no_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter than the visibility"):
        Heartbeat(FakeConsumer(), visibility_seconds=30, interval_seconds=30)


def test_the_worker_extends_running_tasks_together_while_they_run() -> None:
    # Given two long tasks, a 2 s visibility timeout and a 0.05 s heartbeat
    harness = Harness(concurrency=2, visibility_seconds=2, heartbeat_seconds=0.05)
    try:
        harness.send(
            delivery("t1", type="block", payload={"gate": "g"}), delivery("t2", type="block", payload={"gate": "g"})
        )
        harness.start()
        assert harness.has_started("g").wait(3)

        # When they run for a few heartbeats
        eventually(lambda: len(harness.consumer.visibility) >= 3)
        harness.gate("g").set()
        harness.stop()

        # Then both messages were extended, to the full visibility timeout, in shared batches
        batches = [sorted(handles) for handles, timeout in harness.consumer.visibility if timeout == 2]
        assert batches.count(["rh-t1", "rh-t2"]) >= 2
        assert sorted(harness.consumer.deleted()) == ["rh-t1", "rh-t2"]
    finally:
        harness.close()
