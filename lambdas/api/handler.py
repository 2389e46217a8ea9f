"""The job API: Powertools' REST resolver with request and response models validated by pydantic."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.api.errors import register_error_handlers
from lambdas.api.schemas import JobCreated, JobIn, JobOut, TaskDetailOut, TaskOut, TaskPageOut
from tasklane import jobs
from tasklane.errors import TaskNotFound
from tasklane.jobs import JobServices
from tasklane.models import TaskStatus
from tasklane.runtime import job_services
from tasklane.settings import ApiSettings

logger = Logger(service="tasklane-api")
API_TITLE = "Tasklane job API"
API_VERSION = "1.0.0"
app = APIGatewayRestResolver(enable_validation=True)
app.enable_swagger(path="/docs", title=API_TITLE, version=API_VERSION)
register_error_handlers(app)

_services: JobServices | None = None

DEFAULT_TENANT = "default"


def services() -> JobServices:
    global _services
    if _services is None:
        _services = job_services(ApiSettings())
    return _services


def use_services(replacement: JobServices | None) -> None:
    """Let tests run the API over in-memory adapters."""
    global _services
    _services = replacement


def tenant() -> str:
    return DEFAULT_TENANT


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    document = app.get_openapi_json_schema(title=API_TITLE, version=API_VERSION)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=document)


@app.post("/jobs")
def submit_job(job: JobIn) -> Response[JobCreated]:
    found = services()
    spec = jobs.build_spec(job.name, job.tasks, found.registry, job.metadata, job.tolerated_failure_percentage)
    created = jobs.submit_job(spec, tenant(), found)
    body = JobCreated(job_id=created.job_id, status=created.status)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=body)


@app.get("/jobs/<job_id>")
def get_job(job_id: Annotated[str, Path(max_length=64)]) -> JobOut:
    return JobOut.of(jobs.get_job(job_id, tenant(), services().store))


@app.get("/jobs/<job_id>/tasks")
def list_tasks(
    job_id: Annotated[str, Path(max_length=64)],
    status: Annotated[TaskStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    next_token: Annotated[str | None, Query(max_length=512)] = None,
) -> TaskPageOut:
    store = services().store
    jobs.get_job(job_id, tenant(), store)
    page = store.list_tasks(job_id, status=status, limit=limit, next_token=next_token)
    return TaskPageOut(items=[TaskOut.of(t) for t in page.items], next_token=page.next_token)


@app.get("/jobs/<job_id>/tasks/<task_id>")
def get_task(job_id: Annotated[str, Path(max_length=64)], task_id: Annotated[str, Path(max_length=64)]) -> TaskDetailOut:
    store = services().store
    jobs.get_job(job_id, tenant(), store)
    task = store.get_task(job_id, task_id)
    if task is None:
        raise TaskNotFound(job_id, task_id)
    return TaskDetailOut.of(task)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
