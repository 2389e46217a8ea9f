"""A job's watchdog: time the job out at its deadline, heal a stalled window, and say when to look again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fakes import InMemoryJobStore, InMemoryManifests, RecordingQueue, RecordingWorkflow

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.dispatch import dispatch_job
from tasklane.models import Job, JobSpec, JobStatus, Runtime, StopReason, TaskSpec, task_id_for
from tasklane.stopping import STOP_ERROR
from tasklane.watchdog import MAX_DELAY_SECONDS, STALL_SECONDS, WatchRequest, first_watch, watch

NOW = "2026-01-01T00:00:00.000Z"
T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def job(**fields: object) -> Job:
    values: dict[str, object] = {
        "job_id": "job1", "tenant": "acme", "name": "n", "status": JobStatus.RUNNING, "created_at": NOW,
        "updated_at": NOW, "total": 4, "remaining": 4,
    }
    values.update(fields)
    return Job.model_validate(values)


class World:
    """A dispatched job over the in-memory store, its workflow waiting on token `tok`."""

    def __init__(self, **fields: object) -> None:
        self.store, self.workflow = InMemoryJobStore(), RecordingWorkflow()
        self.queues = {Runtime.LAMBDA: RecordingQueue(), Runtime.EKS: RecordingQueue()}
        manifests = InMemoryManifests()
        created = job(**fields)
        manifests.put("job1", JobSpec(name="n", tasks=[TaskSpec(type="echo", runtime=Runtime.LAMBDA)] * created.total))
        self.store.create_job(created)
        dispatch_job("job1", self.store, manifests, self.queues, NOW)
        self.store.save_resume_token("job1", "tok")
        self.touched_at(NOW)

    def touched_at(self, stamp: str) -> None:
        self.store.jobs["job1"] = self.store.jobs["job1"].model_copy(update={"updated_at": stamp})

    def watch(self, request: WatchRequest, now: float) -> int | None:
        return watch(request, self.store, self.workflow, self.queues, now)

    def sent(self) -> list[str]:
        return [m.task_id for m in self.queues[Runtime.LAMBDA].sent]


# --- the first watch ----------------------------------------------------------------------------------


def test_a_job_without_timeout_or_window_needs_no_watch() -> None:
    assert first_watch(job(), T0) is None


@pytest.mark.parametrize(
    ("fields", "deadline", "delay"),
    [
        ({"timeout_seconds": 100}, T0 + 100, 100),
        ({"timeout_seconds": 5000}, T0 + 5000, MAX_DELAY_SECONDS),  # SQS delays 15 minutes at most
        ({"max_concurrency": 2}, None, int(STALL_SECONDS)),
        ({"max_concurrency": 2, "timeout_seconds": 30}, T0 + 30, 30),
        ({"max_concurrency": 2, "timeout_seconds": 3600}, T0 + 3600, int(STALL_SECONDS)),
    ],
)
def test_the_first_watch_carries_the_deadline_and_is_due_at_the_first_check(
    fields: dict[str, int], deadline: float | None, delay: int
) -> None:
    needed = first_watch(job(run=2, **fields), T0)
    assert needed == (WatchRequest(job_id="job1", run=2, deadline=deadline), delay)


# --- deadlines ----------------------------------------------------------------------------------------


def test_at_its_deadline_the_job_is_stopped_as_timed_out() -> None:
    world = World(timeout_seconds=100)
    request = WatchRequest(job_id="job1", deadline=T0 + 100)

    assert world.watch(request, T0 + 100) is None

    stopped = world.store.get_job("job1")
    assert stopped is not None and stopped.stop_reason is StopReason.TIMED_OUT
    assert world.workflow.interrupted == [("tok", STOP_ERROR, "timed_out")]


def test_before_its_deadline_the_next_check_is_due_at_it() -> None:
    world = World(timeout_seconds=100)
    request = WatchRequest(job_id="job1", deadline=T0 + 100)
    assert world.watch(request, T0 + 40.5) == 60  # rounded up: never early
    assert world.watch(request, T0 + 99.5) == 1
    assert world.store.get_job("job1").stop_reason is None  # type: ignore[union-attr]
    assert world.workflow.interrupted == []


def test_a_far_deadline_is_reached_in_hops() -> None:
    world = World(timeout_seconds=3 * 3600)
    request = WatchRequest(job_id="job1", deadline=T0 + 3 * 3600)
    assert world.watch(request, T0) == MAX_DELAY_SECONDS


def test_a_job_that_ended_on_its_own_meanwhile_is_left_alone() -> None:
    world = World(timeout_seconds=10)
    original = world.store.request_stop

    def ends_first(job_id: str, reason: StopReason) -> Job | None:
        world.store.set_job_status(job_id, JobStatus.SUCCEEDED, only_from=(JobStatus.RUNNING,))
        return original(job_id, reason)

    world.store.request_stop = ends_first  # type: ignore[method-assign]
    assert world.watch(WatchRequest(job_id="job1", deadline=T0 + 10), T0 + 11) is None
    assert world.store.get_job("job1").status is JobStatus.SUCCEEDED  # type: ignore[union-attr]
    assert world.workflow.interrupted == []


@pytest.mark.parametrize("case", ["final", "missing", "another run", "stopping"])
def test_a_watch_that_is_no_longer_needed_ends(case: str) -> None:
    world = World(timeout_seconds=10, max_concurrency=1)
    request = WatchRequest(job_id="job1", run=0, deadline=T0 + 10)
    if case == "final":
        world.store.set_job_status("job1", JobStatus.FAILED, only_from=(JobStatus.RUNNING,))
    elif case == "missing":
        request = WatchRequest(job_id="nope", deadline=T0 + 10)
    elif case == "another run":
        request = WatchRequest(job_id="job1", run=1, deadline=T0 + 10)
    else:
        world.store.request_stop("job1", StopReason.CANCELLED)
    before = world.store.get_job("job1")
    assert world.watch(request, T0 + 3600) is None
    assert world.store.get_job("job1") == before
    assert world.workflow.interrupted == [] and world.sent() == [task_id_for(0)]


# --- stalled windows ----------------------------------------------------------------------------------


def lose_a_release(world: World) -> None:
    """Task 0 ended and its release claimed task 1, but the send was lost."""
    world.store.record_outcomes("job1", [TaskOutcome("job1", task_id_for(0), 1, OutcomeKind.SUCCEEDED)])
    assert world.store.claim_window("job1", 1) == range(1, 2)
    world.touched_at(NOW)


def test_a_window_stalled_for_a_while_is_resent() -> None:
    world = World(max_concurrency=1)
    lose_a_release(world)
    assert world.sent() == [task_id_for(0)]

    assert world.watch(WatchRequest(job_id="job1"), T0 + STALL_SECONDS + 1) == int(STALL_SECONDS)

    assert world.sent() == [task_id_for(0), task_id_for(1)]


def test_a_window_that_made_progress_lately_is_not_resent() -> None:
    world = World(max_concurrency=1)
    lose_a_release(world)
    assert world.watch(WatchRequest(job_id="job1"), T0 + STALL_SECONDS - 1) == int(STALL_SECONDS)
    assert world.sent() == [task_id_for(0)]


def test_a_job_without_a_window_is_never_resent() -> None:
    world = World(timeout_seconds=7200)
    assert world.watch(WatchRequest(job_id="job1", deadline=T0 + 7200), T0 + 3600) == MAX_DELAY_SECONDS
    assert world.sent() == [task_id_for(i) for i in range(4)]  # the dispatch, and nothing since
