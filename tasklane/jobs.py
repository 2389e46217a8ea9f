"""Job lifecycle: submit, read, finish. Called by the API and the workflow's steps."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tasklane.clock import now_iso
from tasklane.errors import InvalidJob, InvalidRequest, JobNotFound
from tasklane.models import Job, JobSpec, JobStatus, Runtime, TaskSpec, execution_name
from tasklane.ports import JobPage, JobStore, ManifestStore, WorkflowStarter
from tasklane.registry import TaskRegistry

UPLOAD_EXPIRES_SECONDS = 900
# A short task must end within the runner function's timeout (120 s), with room for its batch's commit.
LAMBDA_TASK_MAX_SECONDS = 100
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


class RequestedTask(Protocol):
    type: str
    payload: dict[str, Any]
    runtime: Runtime | None
    max_attempts: int | None
    timeout_seconds: int | None


@dataclass
class JobServices:
    store: JobStore
    manifests: ManifestStore
    workflow: WorkflowStarter
    registry: TaskRegistry
    new_job_id: Callable[[], str] = lambda: uuid.uuid4().hex


def build_spec(
    name: str,
    tasks: Sequence[RequestedTask],
    registry: TaskRegistry,
    metadata: dict[str, Any] | None = None,
    tolerated_failure_percentage: float = 0.0,
    max_concurrency: int | None = None,
    timeout_seconds: int | None = None,
) -> JobSpec:
    """Resolve each task against the registry; an unknown type names the task and the known types."""
    resolved = []
    for index, task in enumerate(tasks):
        task_type = registry.get(task.type)
        if task_type is None:
            raise InvalidJob(
                f"tasks[{index}].type: unknown task type {task.type!r}; known types: {', '.join(registry.names())}"
            )
        runtime = task.runtime or task_type.default_runtime
        if runtime is Runtime.LAMBDA and (task.timeout_seconds or 0) > LAMBDA_TASK_MAX_SECONDS:
            raise InvalidJob(
                f"tasks[{index}].timeout_seconds: a task on the lambda runtime runs at most "
                f"{LAMBDA_TASK_MAX_SECONDS} s (the runner's own timeout is 120 s); give longer tasks runtime eks"
            )
        resolved.append(
            TaskSpec(
                type=task.type,
                payload=task.payload,
                runtime=runtime,
                max_attempts=task.max_attempts or task_type.max_attempts,
                timeout_seconds=task.timeout_seconds,
            )
        )
    return JobSpec(
        name=name, tasks=resolved, metadata=metadata or {}, tolerated_failure_percentage=tolerated_failure_percentage,
        max_concurrency=max_concurrency, timeout_seconds=timeout_seconds,
    )


def submit_job(spec: JobSpec, tenant: str, services: JobServices) -> Job:
    """Store the manifest, then the job, then start its workflow, so no reader ever sees half a job."""
    job_id = services.new_job_id()
    now = now_iso()
    services.manifests.put(job_id, spec)
    job = Job(
        job_id=job_id, tenant=tenant, name=spec.name, status=JobStatus.PENDING, created_at=now, updated_at=now,
        total=len(spec.tasks), remaining=len(spec.tasks),
        tolerated_failure_percentage=spec.tolerated_failure_percentage, metadata=spec.metadata,
        max_concurrency=spec.max_concurrency, timeout_seconds=spec.timeout_seconds,
    )
    services.store.create_job(job)
    services.workflow.start(execution_name(job_id, 0), {"job_id": job_id, "run": 0, "rerun": None})
    return job


def list_jobs(
    tenant: str, store: JobStore, *, status: JobStatus | None = None, limit: int = 50, next_token: str | None = None
) -> JobPage:
    return store.list_jobs(tenant, status=status, limit=limit, next_token=next_token)


def new_upload(tenant: str, manifests: ManifestStore, expires_in: int = UPLOAD_EXPIRES_SECONDS) -> tuple[str, str]:
    """An id and a presigned URL where a job spec too large for one request can be put."""
    upload_id = uuid.uuid4().hex
    return upload_id, manifests.upload_url(tenant, upload_id, expires_in)


def read_upload(tenant: str, upload_id: str, manifests: ManifestStore) -> bytes:
    if not UPLOAD_ID.match(upload_id):
        raise InvalidRequest("manifest.upload_id is not an id that POST /jobs/uploads returned")
    body = manifests.read_upload(tenant, upload_id)
    if body is None:
        raise InvalidRequest(f"nothing was uploaded for manifest.upload_id {upload_id!r}; PUT the job spec first")
    return body


def get_job(job_id: str, tenant: str, store: JobStore) -> Job:
    job = store.get_job(job_id)
    if job is None or job.tenant != tenant:
        # Another tenant's job answers exactly like a missing one, so ids cannot be probed.
        raise JobNotFound(job_id)
    return job


def finalize_job(job_id: str, store: JobStore) -> Job:
    """Give the job the status it earned; run by the workflow once no task remains."""
    job = store.get_job(job_id)
    if job is None:
        raise JobNotFound(job_id)
    if not job.status.is_final:
        store.set_job_status(job_id, job.outcome(), only_from=(JobStatus.PENDING, JobStatus.RUNNING))
        job = store.get_job(job_id) or job
    return job
