"""Job lifecycle: building a spec against the registry, submitting it in a safe order, reading and finishing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from fakes import CallLog, InMemoryJobStore, InMemoryManifests, RecordingWorkflow

from tasklane import jobs
from tasklane.errors import InvalidJob, JobNotFound
from tasklane.jobs import JobServices
from tasklane.models import DEFAULT_MAX_ATTEMPTS, JobStatus, Runtime, TaskSpec
from tasklane.registry import TaskContext, TaskRegistry, registry


@dataclass
class Requested:
    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    runtime: Runtime | None = None
    max_attempts: int | None = None
    timeout_seconds: int | None = None


def services(log: CallLog | None = None, ids: list[str] | None = None) -> JobServices:
    log = log or CallLog()
    pool = iter(ids or ["job-a", "job-b", "job-c"])
    return JobServices(
        store=InMemoryJobStore(log), manifests=InMemoryManifests(log), workflow=RecordingWorkflow(log),
        registry=registry, new_job_id=lambda: next(pool),
    )


def test_unknown_type_names_the_index_and_the_known_types() -> None:
    with pytest.raises(InvalidJob) as raised:
        jobs.build_spec("j", [Requested("echo"), Requested("teleport")], registry)
    message = str(raised.value)
    assert "tasks[1].type" in message
    assert "'teleport'" in message
    assert "echo, fail, hash, sleep" in message


def test_defaults_come_from_the_registry() -> None:
    reg = TaskRegistry()

    @reg.task("slowpoke", runtime=Runtime.EKS, max_attempts=7)
    def slowpoke(payload: dict[str, Any], ctx: TaskContext) -> None:
        return None

    spec = jobs.build_spec("j", [Requested("slowpoke", {"a": 1})], reg, {"team": "x"}, 10.0)
    # and a task without a timeout gets its runtime's default
    assert spec.tasks == [
        TaskSpec(type="slowpoke", payload={"a": 1}, runtime=Runtime.EKS, max_attempts=7, timeout_seconds=900)
    ]
    assert (spec.name, spec.metadata, spec.tolerated_failure_percentage) == ("j", {"team": "x"}, 10.0)


def test_requested_values_override_the_registry_defaults() -> None:
    spec = jobs.build_spec(
        "j", [Requested("echo", runtime=Runtime.EKS, max_attempts=2, timeout_seconds=30), Requested("sleep")], registry
    )
    assert spec.tasks[0] == TaskSpec(type="echo", runtime=Runtime.EKS, max_attempts=2, timeout_seconds=30)
    assert (spec.tasks[1].runtime, spec.tasks[1].max_attempts) == (Runtime.EKS, DEFAULT_MAX_ATTEMPTS)
    assert spec.metadata == {}


def test_a_failing_manifest_write_leaves_no_job_and_no_workflow() -> None:
    log = CallLog()
    found = services(log)

    def broken(job_id: str, manifest: bytes) -> None:
        raise OSError("s3 down")

    found.manifests.put_json = broken  # type: ignore[method-assign]
    with pytest.raises(OSError):
        jobs.submit_job(jobs.build_manifest("j", [], registry), "acme", found)
    assert log.calls == []


def test_get_job_for_its_tenant_and_not_another() -> None:
    found = services()
    job = jobs.submit_job(jobs.build_manifest("j", [], registry), "acme", found)
    assert jobs.get_job(job.job_id, "acme", found.store) == job
    with pytest.raises(JobNotFound) as raised:
        jobs.get_job(job.job_id, "globex", found.store)
    assert raised.value.job_id == job.job_id
    with pytest.raises(JobNotFound):
        jobs.get_job("missing", "acme", found.store)


@pytest.mark.parametrize(
    ("total", "failed", "tolerated", "status"),
    [(4, 0, 0.0, JobStatus.SUCCEEDED), (4, 1, 0.0, JobStatus.FAILED), (4, 1, 25.0, JobStatus.SUCCEEDED),
     (4, 2, 25.0, JobStatus.FAILED)],
)
def test_finalize_gives_the_status_the_counts_earn(
    total: int, failed: int, tolerated: float, status: JobStatus
) -> None:
    found = services()
    job = jobs.submit_job(
        jobs.build_manifest("j", [], registry, tolerated_failure_percentage=tolerated), "acme", found
    )
    found.store.jobs[job.job_id] = job.model_copy(  # type: ignore[attr-defined]
        update={"status": JobStatus.RUNNING, "total": total, "remaining": 0, "failed": failed,
                "succeeded": total - failed}
    )
    assert jobs.finalize_job(job.job_id, found.store).status is status
    # finalizing again changes nothing
    assert jobs.finalize_job(job.job_id, found.store).status is status


def test_finalize_does_not_overwrite_a_final_status() -> None:
    found = services()
    job = jobs.submit_job(jobs.build_manifest("j", [], registry), "acme", found)
    found.store.set_job_status(job.job_id, JobStatus.CANCELLED, only_from=(JobStatus.PENDING,))
    assert jobs.finalize_job(job.job_id, found.store).status is JobStatus.CANCELLED


def test_finalize_unknown_job_raises() -> None:
    with pytest.raises(JobNotFound):
        jobs.finalize_job("nope", InMemoryJobStore())


@pytest.mark.parametrize(
    "requested",
    [
        [Requested("echo", {"i": 1}), Requested("sleep", runtime=Runtime.LAMBDA, max_attempts=2, timeout_seconds=9)],
        [Requested("hash", {"é": "ü\u2028\x00", "n": [1, 2.5, None, True, {"x": 10**30}], "f": float("nan")})],
        [Requested("echo", {"tasks": []}, runtime=Runtime.EKS, timeout_seconds=1000)],
    ],
)
def test_the_manifest_is_written_byte_for_byte_as_the_spec_would_be(requested: list[Requested]) -> None:
    fields: dict[str, Any] = {"metadata": {"tasks": [], "k": "v"}, "tolerated_failure_percentage": 5,
                              "max_concurrency": 10, "timeout_seconds": 60}
    name = 'a "tasks":[] name'
    spec = jobs.build_spec(name, requested, registry, **fields)
    manifest = jobs.build_manifest(name, requested, registry, **fields)
    assert manifest.body == spec.model_dump_json().encode()
    assert (manifest.name, manifest.total, manifest.metadata, manifest.tolerated_failure_percentage) == (
        spec.name, len(spec.tasks), spec.metadata, spec.tolerated_failure_percentage)


def test_the_manifest_refuses_what_the_spec_refuses() -> None:
    for requested in ([Requested("echo"), Requested("teleport")], [Requested("echo", timeout_seconds=101)]):
        with pytest.raises(InvalidJob) as from_spec:
            jobs.build_spec("j", requested, registry)
        with pytest.raises(InvalidJob) as from_manifest:
            jobs.build_manifest("j", requested, registry)
        assert str(from_manifest.value) == str(from_spec.value)


def test_submit_stores_manifest_then_job_then_starts_the_workflow() -> None:
    log = CallLog()
    found = services(log)
    requested = [Requested("echo"), Requested("hash")]
    manifest = jobs.build_manifest("nightly", requested, registry, {"k": "v"}, 5.0)

    job = jobs.submit_job(manifest, "acme", found)

    assert log.calls == [("manifests.put", "job-a"), ("store.create_job", "job-a"), ("workflow.start", "job-a")]
    spec = jobs.build_spec("nightly", requested, registry, {"k": "v"}, 5.0)
    assert found.manifests.get("job-a") == spec  # type: ignore[attr-defined]
    assert found.workflow.started == [  # type: ignore[attr-defined]
        ("job-a", {"job_id": "job-a", "run": 0, "rerun": None})
    ]
    assert (job.job_id, job.tenant, job.name, job.status) == ("job-a", "acme", "nightly", JobStatus.PENDING)
    assert (job.total, job.remaining, job.tolerated_failure_percentage, job.metadata) == (2, 2, 5.0, {"k": "v"})
    assert found.store.get_job("job-a") == job
