"""Which messages the worker deletes, when, and in what batches."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from worker_fakes import Harness, delivery, eventually

from tasklane.deliveries import Delivery
from workers.metrics import Counter
from workers.worker import ExitCode


@pytest.fixture
def inline() -> Iterator[Harness]:
    # Inline tasks finish as they start, so tasks started together are reaped in the same tick.
    harness = Harness(inline=True, concurrency=4)
    yield harness
    harness.close()


def test_outcomes_are_committed_together_then_deleted_in_one_batch(inline: Harness) -> None:
    # Given three tasks that succeed and one that fails for good, received in one poll
    inline.send(delivery("t1"), delivery("t2"), delivery("t3"), delivery("t4", type="fail"))

    # When the worker runs them
    inline.start()
    eventually(lambda: inline.consumer.deleted())

    # Then their outcomes are committed in one call, before one DeleteMessageBatch of all four
    assert inline.stop() is ExitCode.DRAINED
    assert inline.journal == ["commit ['t1', 't2', 't3', 't4']", "delete ['rh-t1', 'rh-t2', 'rh-t3', 'rh-t4']"]
    assert [inline.store.status(t) for t in ("t1", "t2", "t3", "t4")] == ["SUCCEEDED"] * 3 + ["FAILED"]
    assert inline.metrics.count(Counter.SUCCEEDED) == 3
    assert inline.metrics.count(Counter.FAILED) == 1


def test_a_retry_keeps_its_message_hidden_for_the_backoff(inline: Harness) -> None:
    # Given a task that fails on its first of three attempts
    inline.send(delivery("t1", type="flaky"))

    # When the worker runs it
    inline.start()
    eventually(lambda: inline.metrics.count(Counter.RETRIED) == 1)
    assert inline.stop() is ExitCode.DRAINED

    # Then the retry is committed and its message hidden by the runner, never deleted
    assert inline.store.status("t1") == "PENDING"
    assert [handle for handle, _ in inline.retries.calls] == ["rh-t1"]
    assert inline.consumer.deleted() == []
    # ... and the heartbeat no longer extends it, which would cut the backoff short
    assert "rh-t1" not in inline.heartbeat.tracked()


def test_a_body_that_is_not_a_task_is_handed_back_at_once_for_the_redrive_policy(inline: Harness) -> None:
    # Given a message whose body is not a task
    inline.consumer.put(Delivery(message_id="m1", body='{"nope": 1}', receipt_handle="rh-bad", attempt=1))

    # When the worker receives it
    inline.start()
    eventually(lambda: inline.metrics.count(Counter.INVALID) == 1)
    assert inline.stop() is ExitCode.DRAINED

    # Then it is not deleted but handed back at once: its receives run out soon and SQS dead-letters it
    assert inline.consumer.deleted() == []
    assert inline.consumer.handed_back() == ["rh-bad"]
    assert inline.metrics.count(Counter.STARTED) == 0


def test_a_duplicate_delivery_is_deleted_without_a_commit(inline: Harness) -> None:
    # Given a task that already succeeded, and a duplicate of its message
    inline.store.add("t1", status="SUCCEEDED", attempts=1)
    inline.send(delivery("t1", attempt=2))

    # When the worker receives it
    inline.start()
    eventually(lambda: inline.consumer.deleted())
    assert inline.stop() is ExitCode.DRAINED

    # Then the message is acknowledged and nothing is recorded
    assert inline.journal == ["delete ['rh-t1']"]
    assert inline.metrics.count(Counter.DISCARDED) == 1


def test_a_failed_commit_leaves_the_message_for_redelivery(inline: Harness) -> None:
    # Given a store that cannot commit
    inline.store.fail_commits = True
    inline.send(delivery("t1"))

    # When the task finishes
    inline.start()
    eventually(lambda: inline.metrics.count(Counter.ERRORS) == 1)
    assert inline.stop() is ExitCode.DRAINED

    # Then the message is not deleted, so a later delivery commits the task
    assert inline.consumer.deleted() == []
    assert "rh-t1" not in inline.heartbeat.tracked()


def test_receives_no_more_than_the_free_slots() -> None:
    # Given two slots, no prefetch, and one task holding a slot
    harness = Harness(concurrency=2)
    try:
        harness.send(delivery("t1", type="block", payload={"gate": "g"}))
        harness.start()
        assert harness.has_started("g").wait(3)
        eventually(lambda: len(harness.consumer.receives) >= 3)

        # Then every poll since asks for the one free slot
        assert harness.consumer.receives[0] == 2
        assert set(harness.consumer.receives[1:]) == {1}
    finally:
        harness.close()


def test_an_outcome_waits_at_most_the_linger_for_company_while_other_tasks_run() -> None:
    # Given a long task holding one slot, and a quick task beside it
    harness = Harness(concurrency=2, commit_linger_seconds=0.2)
    try:
        harness.send(delivery("t1", type="block", payload={"gate": "g"}), delivery("t2"))
        harness.start()
        assert harness.has_started("g").wait(3)

        # Then the quick one is committed and deleted after the linger, without waiting for the long one
        eventually(lambda: harness.consumer.deleted() == ["rh-t2"])
        assert harness.store.status("t2") == "SUCCEEDED" and harness.store.status("t1") == "PENDING"
    finally:
        harness.close()
