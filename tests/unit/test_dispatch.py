"""dispatch_job: every task written before it is sent, sent to its runtime's queue, resumable after a crash."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fakes import InMemoryJobStore, InMemoryManifests, RecordingQueue

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.dispatch import PAYLOAD_INLINE_BYTES, dispatch_job, dispatch_rerun
from tasklane.errors import JobNotFound
from tasklane.models import Job, JobSpec, JobStatus, Runtime, StopReason, TaskSpec, TaskStatus, task_id_for

NOW = "2026-01-01T00:00:00.000Z"


def spec_of(runtimes: list[Runtime]) -> JobSpec:
    return JobSpec(
        name="j",
        tasks=[TaskSpec(type="echo", payload={"i": i}, runtime=r, max_attempts=4) for i, r in enumerate(runtimes)],
    )


def job_for(job_id: str, total: int) -> Job:
    return Job(job_id=job_id, tenant="t", name="j", status=JobStatus.RUNNING, created_at=NOW, updated_at=NOW,
               total=total, remaining=total)


def setup(store: Any, manifests: Any, runtimes: list[Runtime], job_id: str = "job1") -> JobSpec:
    spec = spec_of(runtimes)
    manifests.put(job_id, spec)
    store.create_job(job_for(job_id, len(spec.tasks)))
    return spec


MIXED = [Runtime.LAMBDA, Runtime.EKS, Runtime.LAMBDA, Runtime.LAMBDA, Runtime.EKS, Runtime.LAMBDA, Runtime.EKS]


def test_every_task_is_written_then_sent_once_to_its_runtimes_queue() -> None:
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    setup(store, manifests, MIXED)
    short, long = RecordingQueue(), RecordingQueue()

    sent = dispatch_job("job1", store, manifests, {Runtime.LAMBDA: short, Runtime.EKS: long}, NOW, chunk_size=3)

    assert sent == 7
    assert sorted(store.writes) == [task_id_for(i) for i in range(7)]
    assert short.task_ids() == [task_id_for(i) for i, r in enumerate(MIXED) if r is Runtime.LAMBDA]
    assert long.task_ids() == [task_id_for(i) for i, r in enumerate(MIXED) if r is Runtime.EKS]
    assert store.dispatch_cursor("job1") == (7, 7)
    # the messages carry what the runner needs
    first = short.sent[0]
    assert (first.job_id, first.type, first.payload, first.max_attempts) == ("job1", "echo", {"i": 0}, 4)
    # and the task records start PENDING with their index
    record = store.get_task("job1", task_id_for(4))
    assert record is not None
    assert (record.index, record.status, record.runtime) == (4, TaskStatus.PENDING, Runtime.EKS)


def test_a_dispatch_that_is_done_sends_nothing_more() -> None:
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    setup(store, manifests, MIXED)
    queues = {Runtime.LAMBDA: RecordingQueue(), Runtime.EKS: RecordingQueue()}
    dispatch_job("job1", store, manifests, queues, NOW, chunk_size=3)
    before = (len(store.writes), len(queues[Runtime.LAMBDA].sent), len(queues[Runtime.EKS].sent))

    assert dispatch_job("job1", store, manifests, queues, NOW, chunk_size=3) == 0
    assert (len(store.writes), len(queues[Runtime.LAMBDA].sent), len(queues[Runtime.EKS].sent)) == before


def test_a_crash_between_write_and_send_resumes_without_rewriting() -> None:
    # Given a dispatch whose long-task queue fails on its second send: the first chunk of three was
    # written, sent and marked; the second was written, not sent; the third not even written
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    setup(store, manifests, MIXED)
    short, long = RecordingQueue(), RecordingQueue(fail_on_call=2)
    queues = {Runtime.LAMBDA: short, Runtime.EKS: long}
    with pytest.raises(ConnectionError):
        dispatch_job("job1", store, manifests, queues, NOW, chunk_size=3)
    assert store.dispatch_cursor("job1") == (6, 3)
    writes_before_retry = list(store.writes)
    assert writes_before_retry == [task_id_for(i) for i in range(6)]

    # When the step is retried
    sent = dispatch_job("job1", store, manifests, queues, NOW, chunk_size=3)

    # Then it sends the chunks not marked sent, writes the last, and rewrites no task
    assert sent == 4
    assert store.writes == [*writes_before_retry, task_id_for(6)]
    assert Counter(store.writes) == Counter({task_id_for(i): 1 for i in range(7)})
    everything = set(short.task_ids()) | set(long.task_ids())
    assert everything == {task_id_for(i) for i in range(7)}
    assert set(long.task_ids()) == {task_id_for(i) for i, r in enumerate(MIXED) if r is Runtime.EKS}
    assert store.dispatch_cursor("job1") == (7, 7)


def test_a_crash_in_the_first_chunk_retries_from_the_start() -> None:
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    setup(store, manifests, [Runtime.LAMBDA] * 4)
    queue = RecordingQueue(fail_on_call=1)
    with pytest.raises(ConnectionError):
        dispatch_job("job1", store, manifests, {Runtime.LAMBDA: queue, Runtime.EKS: RecordingQueue()}, NOW)
    assert dispatch_job("job1", store, manifests, {Runtime.LAMBDA: queue, Runtime.EKS: RecordingQueue()}, NOW) == 4
    assert store.writes == [task_id_for(i) for i in range(4)]
    assert queue.task_ids() == [task_id_for(i) for i in range(4)]


def test_dispatching_an_unknown_job_raises() -> None:
    with pytest.raises(JobNotFound):
        dispatch_job("nope", InMemoryJobStore(), InMemoryManifests(), {}, NOW)


def test_resumed_dispatch_on_dynamodb_keeps_a_task_that_already_ran(
    store: DynamoJobStore, manifests: S3ManifestStore
) -> None:
    # Given a dispatch over DynamoDB and S3 that crashed after writing its only chunk
    setup(store, manifests, [Runtime.LAMBDA] * 3)
    failing = RecordingQueue(fail_on_call=1)
    with pytest.raises(ConnectionError):
        dispatch_job("job1", store, manifests, {Runtime.LAMBDA: failing, Runtime.EKS: RecordingQueue()}, NOW)
    # And a runner already finished task 0 (its message had gone out before the crash)
    store.record_outcomes("job1", [TaskOutcome("job1", task_id_for(0), 1, OutcomeKind.SUCCEEDED, result=1)])

    # When the dispatch is retried
    queue = RecordingQueue()
    assert dispatch_job("job1", store, manifests, {Runtime.LAMBDA: queue, Runtime.EKS: RecordingQueue()}, NOW) == 3

    # Then task 0 is not rewritten back to PENDING, and every task was sent
    assert store.get_task("job1", task_id_for(0)).status is TaskStatus.SUCCEEDED  # type: ignore[union-attr]
    assert queue.task_ids() == [task_id_for(i) for i in range(3)]
    assert store.dispatch_cursor("job1") == (3, 3)


# --- windows, stops, large payloads and reruns --------------------------------------------------------


def windowed_job(store: InMemoryJobStore, manifests: InMemoryManifests, total: int, window: int) -> None:
    manifests.put("job1", spec_of([Runtime.LAMBDA] * total))
    store.create_job(job_for("job1", total).model_copy(update={"max_concurrency": window, "tenant": "acme"}))


def test_a_windowed_job_sends_only_its_first_window() -> None:
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    windowed_job(store, manifests, total=5, window=2)
    queue = RecordingQueue()

    assert dispatch_job("job1", store, manifests, {Runtime.LAMBDA: queue, Runtime.EKS: RecordingQueue()}, NOW) == 2

    # every task is written, only max_concurrency of them are sent, marked as windowed for their tenant
    assert sorted(store.writes) == [task_id_for(i) for i in range(5)]
    assert queue.task_ids() == [task_id_for(0), task_id_for(1)]
    assert all(m.windowed and m.tenant == "acme" for m in queue.sent)
    assert store.get_job("job1").sent == 2  # type: ignore[union-attr]


def test_a_retried_windowed_dispatch_resends_its_window_and_claims_no_more() -> None:
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    windowed_job(store, manifests, total=5, window=2)
    crashing = RecordingQueue(fail_on_call=1)
    with pytest.raises(ConnectionError):
        dispatch_job("job1", store, manifests, {Runtime.LAMBDA: crashing, Runtime.EKS: RecordingQueue()}, NOW)
    assert crashing.sent == []
    queue = RecordingQueue()
    assert dispatch_job("job1", store, manifests, {Runtime.LAMBDA: queue, Runtime.EKS: RecordingQueue()}, NOW) == 2
    assert queue.task_ids() == [task_id_for(0), task_id_for(1)]
    assert store.get_job("job1").sent == 2  # type: ignore[union-attr]


def test_a_window_larger_than_the_job_sends_every_task_once() -> None:
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    windowed_job(store, manifests, total=3, window=10)
    queue = RecordingQueue()
    assert dispatch_job("job1", store, manifests, {Runtime.LAMBDA: queue, Runtime.EKS: RecordingQueue()}, NOW) == 3
    assert queue.task_ids() == [task_id_for(i) for i in range(3)]


class StoppingQueue(RecordingQueue):
    """Records what it was sent; its first send is when the job is cancelled."""

    def __init__(self, store: InMemoryJobStore) -> None:
        super().__init__()
        self.store = store

    def send(self, messages: list[Any]) -> None:
        super().send(messages)
        if self.calls == 1:
            self.store.request_stop("job1", StopReason.CANCELLED)


def test_a_stop_during_dispatch_sends_no_further_chunk() -> None:
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    setup(store, manifests, [Runtime.LAMBDA] * 7)
    queue = StoppingQueue(store)

    sent = dispatch_job("job1", store, manifests, {Runtime.LAMBDA: queue, Runtime.EKS: RecordingQueue()}, NOW,
                        chunk_size=3)

    assert sent == 3
    assert queue.task_ids() == [task_id_for(i) for i in range(3)]
    # the stop step cancels the written, unsent ones and counts the four never written as cancelled
    assert store.dispatch_cursor("job1") == (3, 3)
    # a retried step sends nothing either
    assert dispatch_job("job1", store, manifests, {Runtime.LAMBDA: queue, Runtime.EKS: RecordingQueue()}, NOW) == 0


def test_a_job_stopped_before_dispatch_writes_and_sends_nothing() -> None:
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    setup(store, manifests, [Runtime.LAMBDA] * 2)
    store.request_stop("job1", StopReason.TIMED_OUT)
    queue = RecordingQueue()
    assert dispatch_job("job1", store, manifests, {Runtime.LAMBDA: queue, Runtime.EKS: RecordingQueue()}, NOW) == 0
    assert store.writes == [] and queue.sent == []


def test_a_payload_too_large_for_a_message_travels_by_reference() -> None:
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    big = {"blob": "x" * (PAYLOAD_INLINE_BYTES + 1)}
    tasks = [TaskSpec(type="echo", payload=big, runtime=Runtime.LAMBDA),
             TaskSpec(type="echo", payload={"small": 1}, runtime=Runtime.LAMBDA)]
    manifests.put("job1", JobSpec(name="j", tasks=tasks))
    store.create_job(job_for("job1", 2))
    queue = RecordingQueue()

    dispatch_job("job1", store, manifests, {Runtime.LAMBDA: queue, Runtime.EKS: RecordingQueue()}, NOW)

    record = store.get_task("job1", task_id_for(0))
    assert record is not None and record.payload == {} and record.payload_ref
    assert manifests.get_payload(record.payload_ref) == big
    large, small = queue.sent
    assert (large.payload, large.payload_ref) == ({}, record.payload_ref)
    assert len(large.model_dump_json()) < 1024
    assert (small.payload, small.payload_ref) == ({"small": 1}, None)
    assert store.get_task("job1", task_id_for(1)).payload_ref is None  # type: ignore[union-attr]


def test_a_large_payload_of_a_windowed_job_also_travels_by_reference(
    store: DynamoJobStore, manifests: S3ManifestStore
) -> None:
    big = {"blob": "y" * (PAYLOAD_INLINE_BYTES + 10)}
    manifests.put("job1", JobSpec(name="j", tasks=[TaskSpec(type="echo", payload=big, runtime=Runtime.LAMBDA)]))
    store.create_job(job_for("job1", 1).model_copy(update={"max_concurrency": 1}))
    queue = RecordingQueue()
    dispatch_job("job1", store, manifests, {Runtime.LAMBDA: queue, Runtime.EKS: RecordingQueue()}, NOW)
    (message,) = queue.sent
    assert message.payload == {} and message.payload_ref
    assert manifests.get_payload(message.payload_ref) == big


def test_a_rerun_reopens_the_failed_tasks_and_sends_them_with_their_attempts_so_far() -> None:
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    setup(store, manifests, [Runtime.LAMBDA, Runtime.EKS, Runtime.LAMBDA])
    dispatch_job("job1", store, manifests, {Runtime.LAMBDA: RecordingQueue(), Runtime.EKS: RecordingQueue()}, NOW)
    store.record_outcomes("job1", [
        TaskOutcome("job1", task_id_for(0), 3, OutcomeKind.FAILED, error="E: a", tenant="t", task_type="echo"),
        TaskOutcome("job1", task_id_for(1), 1, OutcomeKind.FAILED, error="E: b", tenant="t", task_type="echo"),
        TaskOutcome("job1", task_id_for(2), 1, OutcomeKind.SUCCEEDED),
    ])
    store.set_job_status("job1", JobStatus.FAILED, only_from=(JobStatus.RUNNING,))
    store.begin_run("job1", 1)
    short, long = RecordingQueue(), RecordingQueue()
    queues = {Runtime.LAMBDA: short, Runtime.EKS: long}

    assert dispatch_rerun("job1", 1, None, None, "key:k", store, queues) == 2

    assert [(m.task_id, m.attempt_offset, m.windowed) for m in short.sent] == [(task_id_for(0), 3, False)]
    assert [(m.task_id, m.attempt_offset) for m in long.sent] == [(task_id_for(1), 1)]
    job = store.get_job("job1")
    assert job is not None and (job.failed, job.remaining, job.succeeded) == (0, 2, 1)
    assert store.dead_letters("t", limit=10) == []
    # a retried step sends the run's tasks still PENDING again (duplicates are refused on commit)
    assert dispatch_rerun("job1", 1, None, None, "key:k", store, queues) == 2
    assert store.get_job("job1").remaining == 2  # type: ignore[union-attr]


def test_a_rerun_of_chosen_tasks_with_a_new_payload() -> None:
    store, manifests = InMemoryJobStore(), InMemoryManifests()
    setup(store, manifests, [Runtime.LAMBDA] * 3)
    dispatch_job("job1", store, manifests, {Runtime.LAMBDA: RecordingQueue(), Runtime.EKS: RecordingQueue()}, NOW)
    store.record_outcomes("job1", [TaskOutcome("job1", task_id_for(i), 1, OutcomeKind.FAILED, error="E: x")
                                   for i in range(3)])
    store.set_job_status("job1", JobStatus.FAILED, only_from=(JobStatus.RUNNING,))
    store.begin_run("job1", 1)
    queue = RecordingQueue()
    sent = dispatch_rerun("job1", 1, [task_id_for(2)], {"fixed": 1}, "u", store,
                          {Runtime.LAMBDA: queue, Runtime.EKS: RecordingQueue()})
    assert sent == 1
    assert [(m.task_id, m.payload) for m in queue.sent] == [(task_id_for(2), {"fixed": 1})]
    assert store.get_task("job1", task_id_for(0)).status is TaskStatus.FAILED  # type: ignore[union-attr]


def test_a_rerun_of_an_unknown_job_raises() -> None:
    with pytest.raises(JobNotFound):
        dispatch_rerun("nope", 1, None, None, "u", InMemoryJobStore(), {})
