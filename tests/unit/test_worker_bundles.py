"""Messages carrying several tasks, and claims taken only when a task is worth showing as RUNNING."""

from __future__ import annotations

from worker_fakes import Harness, bundle, delivery, eventually, task

from workers.metrics import Counter
from workers.stop_checks import StopChecks
from workers.worker import ExitCode


def test_a_bundle_is_run_task_by_task_committed_together_and_deleted_once() -> None:
    harness = Harness(inline=True, concurrency=4)
    try:
        # Given one message carrying three tasks, one of which fails for good
        harness.send(bundle("b1", task("t1"), task("t2"), task("t3", type="fail")))

        # When the worker runs it
        harness.start()
        eventually(lambda: harness.consumer.deleted())
        assert harness.stop() is ExitCode.DRAINED

        # Then every task's outcome is committed, then the one message deleted
        assert [harness.store.status(t) for t in ("t1", "t2", "t3")] == ["SUCCEEDED", "SUCCEEDED", "FAILED"]
        assert harness.consumer.deleted() == ["rh-b1"]
        # ... and none was claimed RUNNING: they ended before anyone could see them run
        assert harness.store.claims == []
    finally:
        harness.close()


def test_a_bundled_task_due_for_a_retry_leaves_its_bundle_alone_and_the_bundle_is_deleted() -> None:
    harness = Harness(inline=True, concurrency=4)
    try:
        # Given a bundle with a task that fails on its first of three attempts
        harness.send(bundle("b1", task("t1"), task("t2", type="flaky")))

        harness.start()
        eventually(lambda: harness.consumer.deleted())
        assert harness.stop() is ExitCode.DRAINED

        # Then the retry is committed and sent as a message of its own, its first attempt counted
        assert [(m.task_id, m.earlier_receives) for m, _ in harness.sent_alone] == [("t2", 1)]
        assert harness.sent_alone[0][1] > 0  # after its backoff delay
        assert harness.store.status("t2") == "PENDING"
        # ... the bundle's own message is never hidden for it, and is deleted with its sibling's success
        assert harness.retries.calls == []
        assert harness.consumer.deleted() == ["rh-b1"]
        assert harness.metrics.count(Counter.RETRIED) == 1
    finally:
        harness.close()


def test_a_bundle_that_came_back_is_split_into_single_tasks_instead_of_run() -> None:
    harness = Harness(inline=True, concurrency=4)
    try:
        # Given a bundle received a second time: the worker that held it died
        harness.send(bundle("b1", task("t1"), task("t2"), attempt=2))

        harness.start()
        eventually(lambda: harness.consumer.deleted())
        assert harness.stop() is ExitCode.DRAINED

        # Then each task goes on alone with one attempt spent, and the bundle is deleted unrun
        assert [(m.task_id, m.earlier_receives, delay) for m, delay in harness.sent_alone] == [
            ("t1", 1, 0), ("t2", 1, 0)
        ]
        assert harness.metrics.count(Counter.STARTED) == 0
        assert harness.consumer.deleted() == ["rh-b1"]
    finally:
        harness.close()


def test_a_task_running_past_the_claim_delay_is_claimed_running() -> None:
    harness = Harness(concurrency=2, claim_after_seconds=0.05)
    try:
        # Given a first attempt that keeps running
        harness.send(delivery("t1", type="block", payload={"gate": "g"}))
        harness.start()
        assert harness.has_started("g").wait(3)

        # Then the worker claims it, so that it shows as RUNNING
        eventually(lambda: harness.store.status("t1") == "RUNNING")
        assert harness.store.claims == [("t1", 1)]

        # ... and its outcome commits from RUNNING
        harness.gate("g").set()
        eventually(lambda: harness.store.status("t1") == "SUCCEEDED")
        assert harness.store.commits[-1][0].from_running
    finally:
        harness.close()


def test_a_redelivered_task_is_claimed_before_it_runs_so_a_finished_one_is_not_run_again() -> None:
    harness = Harness(inline=True, concurrency=4)
    try:
        # Given a task already final, delivered again
        harness.store.add("t1", status="SUCCEEDED", attempts=1)
        harness.send(delivery("t1", type="block", payload={"gate": "never"}, attempt=2))

        harness.start()
        eventually(lambda: harness.consumer.deleted())
        assert harness.stop() is ExitCode.DRAINED

        # Then its claim is refused and it never starts
        assert harness.store.claims == [("t1", 2)]
        assert not harness.has_started("never").is_set()
    finally:
        harness.close()


def test_a_claim_refused_mid_run_stops_the_task_at_its_next_report() -> None:
    harness = Harness(concurrency=2, claim_after_seconds=10)
    try:
        # Given a first attempt that reports progress, of a task cancelled meanwhile
        harness.send(delivery("t1", type="report"))
        harness.store.cancel("t1")

        harness.start()
        eventually(lambda: harness.metrics.count(Counter.DISCARDED) == 1)
        assert harness.stop() is ExitCode.DRAINED

        # Then its first report asks for the claim, which is refused: the attempt is abandoned and acknowledged
        assert harness.store.claims == [("t1", 1)]
        assert harness.store.progress == []
        assert harness.consumer.deleted() == ["rh-t1"]
    finally:
        harness.close()


def test_bundled_tasks_waiting_too_long_for_a_slot_go_on_alone_for_another_worker() -> None:
    harness = Harness(concurrency=1, handoff_seconds=0.05)
    try:
        # Given one slot and a bundle of two long tasks
        harness.send(bundle("b1", task("t1", type="block", payload={"gate": "g1"}),
                            task("t2", type="block", payload={"gate": "g2"})))
        harness.start()
        assert harness.has_started("g1").wait(3)

        # Then the one waiting is sent on alone, its attempt unspent
        eventually(lambda: harness.sent_alone)
        assert [(m.task_id, m.earlier_receives, delay) for m, delay in harness.sent_alone] == [("t2", 0, 0)]

        # ... and the bundle is deleted once the running one is committed
        harness.gate("g1").set()
        eventually(lambda: harness.consumer.deleted() == ["rh-b1"])
        assert harness.stop() is ExitCode.DRAINED
        assert not harness.has_started("g2").is_set()
    finally:
        harness.close()


def test_a_stop_sends_unstarted_bundled_tasks_on_alone_and_deletes_the_bundle_when_the_rest_end() -> None:
    harness = Harness(concurrency=1)
    try:
        harness.send(bundle("b1", task("t1", type="block", payload={"gate": "g1"}), task("t2")))
        harness.start()
        assert harness.has_started("g1").wait(3)

        # When the worker is asked to stop with one task running and one waiting
        harness.worker.request_stop()
        eventually(lambda: harness.sent_alone)
        harness.gate("g1").set()
        assert harness.join() is ExitCode.DRAINED

        # Then the waiting one went on alone, the running one finished, and the bundle is deleted
        assert [m.task_id for m, _ in harness.sent_alone] == ["t2"]
        assert harness.store.status("t1") == "SUCCEEDED"
        assert harness.consumer.deleted() == ["rh-b1"]
        assert harness.consumer.handed_back() == []
    finally:
        harness.close()


def test_tasks_of_a_job_asked_to_stop_are_not_started() -> None:
    harness = Harness(inline=True, concurrency=4)
    try:
        harness.store.stopped.add("job-1")
        harness.send(bundle("b1", task("t1", type="block", payload={"gate": "never"}), task("t2")))

        harness.start()
        eventually(lambda: harness.consumer.deleted())
        assert harness.stop() is ExitCode.DRAINED

        # Then neither ran nor was recorded: the job's stop step cancels them
        assert not harness.has_started("never").is_set()
        assert harness.store.commits == []
        assert harness.consumer.deleted() == ["rh-b1"]
    finally:
        harness.close()


def test_which_jobs_are_stopping_is_read_at_most_once_per_max_age_for_each_job() -> None:
    # Given a clock the test moves, and a store that counts its reads
    now = [0.0]
    reads: list[list[str]] = []

    def read(job_ids: list[str]) -> set[str]:
        reads.append(job_ids)
        return {"stopped"} & set(job_ids)

    checks = StopChecks(read, max_age_seconds=1.0, clock=lambda: now[0])

    # When asked again within the second, nothing is read again; a job not seen yet is read alone
    assert checks.stopping(["a", "stopped"]) == {"stopped"}
    now[0] = 0.5
    assert checks.stopping(["a", "b"]) == frozenset()
    # Then once the second is over, the jobs are read again
    now[0] = 1.2
    assert checks.stopping(["a", "stopped"]) == {"stopped"}
    assert reads == [["a", "stopped"], ["b"], ["a", "stopped"]]
