"""Job lifecycle: submit, read, finish. Called by the API and the workflow's steps."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic_core import to_json

from tasklane.clock import now_iso
from tasklane.errors import InvalidJob, InvalidRequest, JobNotFound, TooLarge, WorkflowNotStarted
from tasklane.models import Job, JobSpec, JobStatus, Runtime, TaskSpec, TaskTimeouts, execution_name
from tasklane.ports import JobPage, JobStore, ManifestStore, UploadForm, WorkflowStarter
from tasklane.registry import TaskRegistry

UPLOAD_EXPIRES_SECONDS = 900
# An uploaded job spec is read whole into the API's memory (1,769 MB): 1,000,000 small tasks are about 50 MB.
MAX_UPLOAD_BYTES = 128 * 1024 * 1024
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
# JSON nested deeper than this is refused before it is parsed. Every reader after the API parses it again
# inside a few more levels (the manifest, a queue message, a task item), and pydantic's parser stops at 200
# levels: a job nested 200 deep was accepted and then could never be dispatched.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


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
    timeouts: TaskTimeouts = field(default_factory=TaskTimeouts)
    new_job_id: Callable[[], str] = lambda: uuid.uuid4().hex


def _resolved(
    tasks: Sequence[RequestedTask], registry: TaskRegistry, timeouts: TaskTimeouts
) -> Iterator[tuple[RequestedTask, Runtime, int, int]]:
    """Each task with its runtime, max_attempts and timeout resolved; an unknown type, a timeout over its
    runtime's maximum or a payload its type refuses names the task and what to change."""
    for index, task in enumerate(tasks):
        task_type = registry.get(task.type)
        if task_type is None:
            raise InvalidJob(
                f"tasks[{index}].type: unknown task type {task.type!r}; known types: {', '.join(registry.names())}"
            )
        runtime = task.runtime or task_type.default_runtime
        if timeouts.over_max(runtime, task.timeout_seconds):
            longer = " (give longer tasks runtime eks)" if runtime is Runtime.LAMBDA else ""
            raise InvalidJob(
                f"tasks[{index}].timeout_seconds: a task on the {runtime.value} runtime runs at most "
                f"{timeouts.max_seconds[runtime]} s{longer}"
            )
        timeout = timeouts.effective(runtime, task.timeout_seconds)
        if task_type.check is not None:
            try:
                task_type.check(task.payload, timeouts.max_seconds[runtime])
            except ValueError as exc:
                raise InvalidJob(f"tasks[{index}].{exc}") from None
        yield task, runtime, task.max_attempts or task_type.max_attempts, timeout


def build_spec(
    name: str,
    tasks: Sequence[RequestedTask],
    registry: TaskRegistry,
    metadata: dict[str, Any] | None = None,
    tolerated_failure_percentage: float = 0.0,
    max_concurrency: int | None = None,
    timeout_seconds: int | None = None,
    timeouts: TaskTimeouts | None = None,
) -> JobSpec:
    """The job as a JobSpec, each task resolved against the registry and the task timeouts."""
    resolved = [
        TaskSpec(
            type=task.type, payload=task.payload, runtime=runtime, max_attempts=max_attempts,
            timeout_seconds=timeout,
        )
        for task, runtime, max_attempts, timeout in _resolved(tasks, registry, timeouts or TaskTimeouts())
    ]
    return JobSpec(
        name=name, tasks=resolved, metadata=metadata or {}, tolerated_failure_percentage=tolerated_failure_percentage,
        max_concurrency=max_concurrency, timeout_seconds=timeout_seconds,
    )


@dataclass(frozen=True)
class JobManifest:
    """A resolved job ready to store: its manifest already serialized, byte for byte as JobSpec's JSON.

    A large job is serialized task by task from the validated request rather than through a JobSpec, which
    would hold a second model and a copy of the payload for every task (100,000 tasks: over 100 MB).
    """

    name: str
    total: int
    metadata: dict[str, Any]
    tolerated_failure_percentage: float
    max_concurrency: int | None
    timeout_seconds: int | None
    body: bytes


_TASKS_KEY = b'"tasks":[]'


def build_manifest(
    name: str,
    tasks: Sequence[RequestedTask],
    registry: TaskRegistry,
    metadata: dict[str, Any] | None = None,
    tolerated_failure_percentage: float = 0.0,
    max_concurrency: int | None = None,
    timeout_seconds: int | None = None,
    timeouts: TaskTimeouts | None = None,
) -> JobManifest:
    """What build_spec resolves, with the same errors, as the JSON JobSpec.model_dump_json() would write."""
    # The job's own fields come from a JobSpec without tasks, so they are validated and written as before;
    # the tasks are spliced into its empty list (the first '"tasks":[]' is the key: a quote inside the
    # name would be escaped).
    empty = JobSpec(
        name=name, tasks=[], metadata=metadata or {}, tolerated_failure_percentage=tolerated_failure_percentage,
        max_concurrency=max_concurrency, timeout_seconds=timeout_seconds,
    )
    head, tail = empty.model_dump_json().encode().split(_TASKS_KEY, 1)
    body = bytearray(head + b'"tasks":[')
    separator = b""
    for task, runtime, max_attempts, timeout in _resolved(tasks, registry, timeouts or TaskTimeouts()):
        body += separator
        separator = b","
        # TaskSpec's fields in its order; inf and nan as null, as model_dump_json writes them.
        body += to_json(
            {"type": task.type, "payload": task.payload, "runtime": runtime.value, "max_attempts": max_attempts,
             "timeout_seconds": timeout},
            inf_nan_mode="null",
        )
    body += b"]" + tail
    return JobManifest(
        name=empty.name, total=len(tasks), metadata=empty.metadata,
        tolerated_failure_percentage=empty.tolerated_failure_percentage, max_concurrency=empty.max_concurrency,
        timeout_seconds=empty.timeout_seconds, body=bytes(body),
    )


def submit_job(manifest: JobManifest, tenant: str, services: JobServices) -> Job:
    """Store the manifest, then the job, then start its workflow, so no reader ever sees half a job."""
    job_id = services.new_job_id()
    now = now_iso()
    services.manifests.put_json(job_id, manifest.body)
    job = Job(
        job_id=job_id, tenant=tenant, name=manifest.name, status=JobStatus.PENDING, created_at=now, updated_at=now,
        total=manifest.total, remaining=manifest.total,
        tolerated_failure_percentage=manifest.tolerated_failure_percentage, metadata=manifest.metadata,
        max_concurrency=manifest.max_concurrency, timeout_seconds=manifest.timeout_seconds,
    )
    services.store.create_job(job)
    try:
        services.workflow.start(execution_name(job_id, 0), {"job_id": job_id, "run": 0, "rerun": None})
    except Exception as exc:
        why = f"its workflow could not start: {type(exc).__name__}: {exc}"[:1000]
        services.store.set_job_status(job_id, JobStatus.FAILED, only_from=(JobStatus.PENDING,), error=why)
        raise WorkflowNotStarted(
            f"job {job_id} could not start and ended FAILED ({type(exc).__name__}); submit it again"
        ) from exc
    return job


def list_jobs(
    tenant: str, store: JobStore, *, status: JobStatus | None = None, limit: int = 50, next_token: str | None = None
) -> JobPage:
    return store.list_jobs(tenant, status=status, limit=limit, next_token=next_token)


def new_upload(
    tenant: str, manifests: ManifestStore, expires_in: int = UPLOAD_EXPIRES_SECONDS
) -> tuple[str, UploadForm]:
    """An id and a presigned POST form where a job spec too large for one request can be uploaded."""
    upload_id = uuid.uuid4().hex
    return upload_id, manifests.upload_form(tenant, upload_id, expires_in, MAX_UPLOAD_BYTES)


def read_upload(tenant: str, upload_id: str, manifests: ManifestStore) -> bytes:
    if not UPLOAD_ID.match(upload_id):
        raise InvalidRequest("manifest.upload_id is not an id that POST /jobs/uploads returned")
    # The size is checked before reading: an object put some other way must not fill the API's memory.
    size = manifests.upload_size(tenant, upload_id)
    if size is not None and size > MAX_UPLOAD_BYTES:
        raise TooLarge(f"the uploaded job spec is {size} bytes; at most {MAX_UPLOAD_BYTES} are read")
    body = manifests.read_upload(tenant, upload_id) if size is not None else None
    if body is None:
        raise InvalidRequest(f"nothing was uploaded for manifest.upload_id {upload_id!r}; upload the job spec first")
    check_json_depth(body, "the uploaded job spec")
    return body


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text, found without parsing it (a parser may crash on it)."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def check_json_depth(raw: bytes, what: str) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH levels, before anything parses it."""
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise InvalidRequest(f"{what} nests {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed")


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
