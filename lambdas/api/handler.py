"""The job API: Powertools' REST resolver with request and response models validated by pydantic.

Every route but /health, /openapi.json and /docs sits behind the tenant authorizer; the tenant comes
from its context, never from the request body.
"""

from __future__ import annotations

import base64
import gc

# What this module loads lives as long as the process, so the cyclic collector is paused while it loads
# (it would walk the imports' objects over and over, about 30 ms of a cold start) and those objects are
# then frozen out of every later collection (see the end of the module).
_collecting = gc.isenabled()
gc.disable()

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from lambdas.api import admin, idempotency, principal
from lambdas.api.errors import describe_validation, raw_error_response, register_error_handlers
from lambdas.api.principal import Caller, caller
from lambdas.api.schemas import (
    CORS_HEADERS,
    DeadLetterGroupOut,
    DeadLettersOut,
    ErrorOut,
    HealthOut,
    JobCreated,
    JobIn,
    JobOut,
    JobPageOut,
    JobSubmission,
    ManifestJobIn,
    RedriveIn,
    RedriveOut,
    RedriveSkipOut,
    TaskDetailOut,
    TaskOut,
    TaskPageOut,
    UploadedJobIn,
    UploadOut,
)
from tasklane import dead_letters, jobs, redrive, reruns, stopping
from tasklane.aws.stepfunctions import StepFunctionsResumer
from tasklane.errors import InvalidRequest, TaskNotFound
from tasklane.jobs import JobServices
from tasklane.models import JobStatus, StopReason, TaskStatus
from tasklane.ports import WorkflowResumer
from tasklane.provided import provided
from tasklane.settings import ApiSettings
from tasklane.wiring import job_services

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme

logger = Logger(service="tasklane-api")
API_TITLE = "Tasklane job API"
API_VERSION = "1.0.0"
JOB_ID = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
TASK_ID = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
IDEMPOTENCY_KEY = Annotated[str | None, Header(alias="Idempotency-Key", max_length=256)]

app = APIGatewayRestResolver(
    enable_validation=True, cors=CORSConfig(allow_origin="*", allow_headers=CORS_HEADERS, max_age=600)
)
DOCS_PATH = "/docs"
SECURITY: list[dict[str, list[str]]] = [{"tenantCredentials": []}]


# Powertools' OpenAPI models take about 80 ms to import; only the documentation routes need them, so a
# cold start that serves anything else does not load them.
@cache
def security_schemes() -> dict[str, SecurityScheme]:
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    return {
        "tenantCredentials": APIKey(
            name="Authorization", **{"in": APIKeyIn.header},
            description="'ApiKey <key>' for machines, or 'Bearer <Cognito ID token>' for people",
        )
    }


@cache
def enable_docs() -> None:
    app.enable_swagger(
        path=DOCS_PATH, title=API_TITLE, version=API_VERSION, security_schemes=security_schemes(), security=SECURITY
    )


register_error_handlers(app)
principal.bind(app)
app.include_router(admin.router)

@provided
def settings() -> ApiSettings:
    return ApiSettings()


@provided
def services() -> JobServices:
    return job_services(settings())


@provided
def resumer() -> WorkflowResumer:
    return StepFunctionsResumer()


ERROR_STATUSES = {
    400: "the request cannot be served as asked",
    401: "missing or invalid credentials",
    404: "no such job or task for this tenant",
    409: "the job's state or the Idempotency-Key forbids it",
    413: "the uploaded job spec is larger than the API reads",
    415: "the body is not JSON",
    422: "the request does not match the schema (or nests too deep)",
    503: "the job's workflow could not start; ask again after Retry-After",
}


def documented(success: dict[int, tuple[str, type[BaseModel]]] | None = None) -> dict[int, Any]:
    """OpenAPI responses of a route: its successes and the error shape every failure shares."""
    responses: dict[int, Any] = {
        status: {"description": text, "content": {"application/json": {"model": ErrorOut}}}
        for status, text in ERROR_STATUSES.items()
    }
    for status, (text, model) in (success or {}).items():
        responses[status] = {"description": text, "content": {"application/json": {"model": model}}}
    return responses


def json_response(status: int, body: BaseModel | dict[str, Any]) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def replayable(route: str, key: str | None, action: idempotency.Action) -> tuple[int, dict[str, Any]]:
    """Run a POST at most once per Idempotency-Key (when one is sent)."""
    if key is None:
        return action()
    body = (app.current_event.body or "").encode()
    return idempotency.once(settings().idempotency_table_name, caller().tenant, route, key, body, action)


@app.get("/health", responses=documented({200: ("the API answers", HealthOut)}), security=[])
def health() -> HealthOut:
    return HealthOut(status="ok")


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    document = app.get_openapi_json_schema(
        title=API_TITLE, version=API_VERSION, security_schemes=security_schemes(), security=SECURITY
    )
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=document)


@app.post("/jobs", responses=documented({201: ("created", JobCreated), 200: ("an idempotent replay", JobCreated)}))
def submit_job(job: Annotated[JobSubmission, Body()], idempotency_key: IDEMPOTENCY_KEY = None) -> Response[JobCreated]:
    who = caller()

    def create() -> tuple[int, dict[str, Any]]:
        spec_in = _uploaded(who, job) if isinstance(job, ManifestJobIn) else job
        found = services()
        manifest = jobs.build_manifest(
            spec_in.name, spec_in.tasks, found.registry, spec_in.metadata, spec_in.tolerated_failure_percentage,
            spec_in.max_concurrency, spec_in.timeout_seconds, found.timeouts,
        )
        created = jobs.submit_job(manifest, who.tenant, found)
        return 201, JobCreated(job_id=created.job_id, status=created.status).model_dump(mode="json")

    status, body = replayable("POST /jobs", idempotency_key, create)
    return json_response(status, body)


def _uploaded(who: Caller, job: ManifestJobIn) -> JobIn:
    raw = jobs.read_upload(who.tenant, job.manifest.upload_id, services().manifests)
    try:
        return UploadedJobIn.model_validate_json(raw)
    except ValidationError as exc:
        problems = describe_validation(list(exc.errors()), root="manifest")
        raise InvalidRequest(f"the uploaded job spec is not valid: {problems}") from None


@app.post("/jobs/uploads", responses=documented({201: ("created", UploadOut), 200: ("a replay", UploadOut)}))
def new_upload(idempotency_key: IDEMPOTENCY_KEY = None) -> Response[UploadOut]:
    def create() -> tuple[int, dict[str, Any]]:
        upload_id, form = jobs.new_upload(caller().tenant, services().manifests)
        out = UploadOut(
            upload_id=upload_id, url=form.url, fields=form.fields, expires_in=jobs.UPLOAD_EXPIRES_SECONDS,
            max_bytes=jobs.MAX_UPLOAD_BYTES,
        )
        return 201, out.model_dump(mode="json")

    status, body = replayable("POST /jobs/uploads", idempotency_key, create)
    return json_response(status, body)


@app.get("/jobs", responses=documented({200: ("the jobs", JobPageOut)}))
def list_jobs(
    status: Annotated[JobStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> JobPageOut:
    page = jobs.list_jobs(caller().tenant, services().store, status=status, limit=limit, next_token=next_token)
    return JobPageOut(items=[JobOut.of(j) for j in page.items], next_token=page.next_token)


@app.get("/jobs/<job_id>", responses=documented({200: ("the job", JobOut)}))
def get_job(job_id: JOB_ID) -> JobOut:
    return JobOut.of(jobs.get_job(job_id, caller().tenant, services().store))


@app.post(
    "/jobs/<job_id>/cancel", responses=documented({202: ("the job is stopping", JobOut), 200: ("a replay", JobOut)})
)
def cancel_job(job_id: JOB_ID, idempotency_key: IDEMPOTENCY_KEY = None) -> Response[JobOut]:
    def cancel() -> tuple[int, dict[str, Any]]:
        store = services().store
        job = jobs.get_job(job_id, caller().tenant, store)
        stopped = stopping.stop_job(job, StopReason.CANCELLED, store, resumer())
        return 202, JobOut.of(stopped).model_dump(mode="json")

    status, body = replayable(f"POST /jobs/{job_id}/cancel", idempotency_key, cancel)
    return json_response(status, body)


@app.post(
    "/jobs/<job_id>/retry",
    responses=documented({202: ("its FAILED tasks run again", JobOut), 200: ("a replay", JobOut)}),
)
def retry_job(job_id: JOB_ID, idempotency_key: IDEMPOTENCY_KEY = None) -> Response[JobOut]:
    def retry() -> tuple[int, dict[str, Any]]:
        store = services().store
        job = jobs.get_job(job_id, caller().tenant, store)
        opened = reruns.retry_failed(job, caller().subject, store, services().workflow)
        return 202, JobOut.of(opened).model_dump(mode="json")

    status, body = replayable(f"POST /jobs/{job_id}/retry", idempotency_key, retry)
    return json_response(status, body)


@app.get("/jobs/<job_id>/tasks", responses=documented({200: ("the tasks", TaskPageOut)}))
def list_tasks(
    job_id: JOB_ID,
    status: Annotated[TaskStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> TaskPageOut:
    store = services().store
    jobs.get_job(job_id, caller().tenant, store)
    page = store.list_tasks(job_id, status=status, limit=limit, next_token=next_token)
    timeouts = services().timeouts
    return TaskPageOut(items=[TaskOut.of(t, timeouts) for t in page.items], next_token=page.next_token)


@app.get("/jobs/<job_id>/tasks/<task_id>", responses=documented({200: ("the task", TaskDetailOut)}))
def get_task(job_id: JOB_ID, task_id: TASK_ID) -> TaskDetailOut:
    store = services().store
    jobs.get_job(job_id, caller().tenant, store)
    task = store.get_task(job_id, task_id)
    if task is None:
        raise TaskNotFound(job_id, task_id)
    payload = services().manifests.get_payload(task.payload_ref) if task.payload_ref else None
    return TaskDetailOut.of(task, services().timeouts, payload)


@app.get("/dlq", responses=documented({200: ("dead letters by fingerprint", DeadLettersOut)}))
def list_dead_letters(limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000) -> DeadLettersOut:
    letters = services().store.dead_letters(caller().tenant, limit=limit + 1)
    groups = dead_letters.group(letters[:limit])
    return DeadLettersOut(
        groups=[
            DeadLetterGroupOut(
                fingerprint=g.fingerprint, task_type=g.task_type, error_class=g.error_class, message=g.message,
                count=g.count, job_ids=sorted(g.jobs), sample_task_ids=g.sample_task_ids, sample_error=g.sample_error,
            )
            for g in groups
        ],
        total=min(len(letters), limit),
        truncated=len(letters) > limit,
    )


@app.post(
    "/dlq/redrive",
    responses=documented({202: ("the chosen dead tasks run again", RedriveOut), 200: ("a replay", RedriveOut)}),
)
def redrive_dead_letters(request: RedriveIn, idempotency_key: IDEMPOTENCY_KEY = None) -> Response[RedriveOut]:
    who = caller()

    def run() -> tuple[int, dict[str, Any]]:
        selection = redrive.Selection(job_id=request.job_id, fingerprint=request.fingerprint, task_ids=request.task_ids)
        found = services()
        report = redrive.redrive(
            who.tenant, selection, request.payload, who.subject, found.store, found.workflow, found.manifests
        )
        out = RedriveOut(
            redriven=report.redriven, runs=report.runs,
            skipped=[RedriveSkipOut(job_id=j, task_id=t, reason=r) for j, t, r in report.skipped],
        )
        return 202, out.model_dump(mode="json")

    status, body = replayable("POST /dlq/redrive", idempotency_key, run)
    return json_response(status, body)


def refuse_non_json(event: dict[str, Any]) -> dict[str, Any] | None:
    """A body that is not JSON is refused before any parser sees it (a multipart body could crash one)."""
    if not event.get("body"):
        return None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    media_type = (headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json")):
        return None
    message = f"send the body as application/json, not {media_type or 'an empty content type'}"
    return raw_error_response(415, "unsupported_media_type", message)


def refuse_too_deep(event: dict[str, Any]) -> dict[str, Any] | None:
    """A body nested too deep is refused before it is parsed: parsers crash on it, or later readers would."""
    body = event.get("body")
    if not body:
        return None
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    try:
        jobs.check_json_depth(raw, "the body")
    except InvalidRequest as exc:
        return raw_error_response(422, "validation_error", str(exc))
    return None


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    refused = refuse_non_json(event) or refuse_too_deep(event)
    if refused is not None:
        return refused
    idempotency.register_lambda_context(context)
    if event.get("resource") == DOCS_PATH or event.get("path") == DOCS_PATH:
        enable_docs()
    return app.resolve(event, context)


gc.freeze()
if _collecting:
    gc.enable()
