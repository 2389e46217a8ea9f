"""Flow control of windowed jobs: each ended task lets the next be sent; a stalled window is healed."""

from __future__ import annotations

from fakes import InMemoryJobStore, InMemoryManifests, RecordingQueue

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.dispatch import dispatch_job
from tasklane.flow import release, resend_unattempted
from tasklane.models import Job, JobSpec, JobStatus, Runtime, StopReason, TaskSpec, task_id_for

NOW = "2026-01-01T00:00:00.000Z"


def dispatched(total: int, window: int, runtimes: list[Runtime] | None = None) -> tuple[InMemoryJobStore, dict]:
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    runtimes = runtimes or [Runtime.LAMBDA] * total
    manifests.put("job1", JobSpec(name="j", tasks=[TaskSpec(type="echo", payload={"i": i}, runtime=r)
                                                   for i, r in enumerate(runtimes)]))
    store.create_job(Job(job_id="job1", tenant="acme", name="j", status=JobStatus.RUNNING, created_at=NOW,
                         updated_at=NOW, total=total, remaining=total, max_concurrency=window))
    queues = {Runtime.LAMBDA: RecordingQueue(), Runtime.EKS: RecordingQueue()}
    dispatch_job("job1", store, manifests, queues, NOW)
    return store, queues


def sent_ids(queues: dict) -> list[str]:
    return sorted(m.task_id for q in queues.values() for m in q.sent)


def test_release_sends_as_many_next_tasks_as_ended() -> None:
    store, queues = dispatched(total=6, window=2)
    assert sent_ids(queues) == [task_id_for(0), task_id_for(1)]

    assert release("job1", "acme", 1, store, queues) == 1
    assert sent_ids(queues) == [task_id_for(i) for i in range(3)]
    assert release("job1", "acme", 2, store, queues) == 2
    assert sent_ids(queues) == [task_id_for(i) for i in range(5)]
    # the last window is cut at the job's end, and then nothing more is sent
    assert release("job1", "acme", 2, store, queues) == 1
    assert release("job1", "acme", 1, store, queues) == 0
    assert sent_ids(queues) == [task_id_for(i) for i in range(6)]
    last = queues[Runtime.LAMBDA].sent[-1]
    assert (last.windowed, last.tenant, last.payload) == (True, "acme", {"i": 5})


def test_released_tasks_go_to_their_runtimes_queue() -> None:
    store, queues = dispatched(total=4, window=1, runtimes=[Runtime.LAMBDA, Runtime.EKS, Runtime.LAMBDA, Runtime.EKS])
    release("job1", "acme", 3, store, queues)
    assert [m.task_id for m in queues[Runtime.EKS].sent] == [task_id_for(1), task_id_for(3)]
    assert [m.task_id for m in queues[Runtime.LAMBDA].sent] == [task_id_for(0), task_id_for(2)]


def test_release_skips_tasks_that_are_no_longer_pending() -> None:
    store, queues = dispatched(total=4, window=1)
    store.record_outcomes("job1", [TaskOutcome("job1", task_id_for(1), None, OutcomeKind.CANCELLED)])
    assert release("job1", "acme", 2, store, queues) == 1
    assert sent_ids(queues) == [task_id_for(0), task_id_for(2)]


def test_a_stopping_job_releases_nothing() -> None:
    store, queues = dispatched(total=4, window=1)
    store.request_stop("job1", StopReason.CANCELLED)
    assert release("job1", "acme", 1, store, queues) == 0
    assert sent_ids(queues) == [task_id_for(0)]
    assert store.get_job("job1").sent == 1  # type: ignore[union-attr]


def test_resend_unattempted_heals_a_claim_whose_send_was_lost() -> None:
    store, _ = dispatched(total=5, window=2)
    # task 0 ran and ended; its release claimed task 2, but the send was lost (a crash in between)
    store.record_outcomes("job1", [TaskOutcome("job1", task_id_for(0), 1, OutcomeKind.SUCCEEDED)])
    assert store.claim_window("job1", 1) == range(2, 3)
    # task 1 was attempted and waits for its retry
    store.record_outcomes("job1", [TaskOutcome("job1", task_id_for(1), 1, OutcomeKind.RETRY, error="E")])
    fresh = {Runtime.LAMBDA: RecordingQueue(), Runtime.EKS: RecordingQueue()}

    job = store.get_job("job1")
    assert job is not None and job.tenant == "acme"
    assert resend_unattempted(job, store, fresh) == 1

    # only the claimed, never-attempted task: not the retried one, not the unclaimed ones
    assert sent_ids(fresh) == [task_id_for(2)]
    assert store.get_job("job1").sent == 3  # type: ignore[union-attr]
