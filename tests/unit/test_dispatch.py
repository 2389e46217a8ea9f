"""dispatch_job: every task written before it is sent, sent to its runtime's queue, resumable after a crash."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fakes import InMemoryJobStore, InMemoryManifests, RecordingQueue

from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.dispatch import dispatch_job
from tasklane.errors import JobNotFound
from tasklane.execution import OutcomeKind, TaskOutcome
from tasklane.models import Job, JobSpec, JobStatus, Runtime, TaskSpec, TaskStatus, task_id_for

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
    # Given a dispatch whose long-task queue fails on its second send (chunk 2 written, not sent)
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

    # Then it sends the chunks not marked sent and writes only the tasks never written
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
