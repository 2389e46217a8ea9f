"""The job workflow's steps; each is a separate function of the state machine, named for its state."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from tasklane import jobs
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.aws.stepfunctions import StepFunctionsResumer
from tasklane.clock import now_iso
from tasklane.completion import resume_job
from tasklane.dispatch import dispatch_job
from tasklane.models import JobStatus
from tasklane.runtime import task_queues
from tasklane.settings import OrchestratorSettings

logger = Logger(service="tasklane-orchestrator")


class StepInput(BaseModel):
    job_id: str


class WaitInput(StepInput):
    task_token: str


@cache
def settings() -> OrchestratorSettings:
    return OrchestratorSettings()


@cache
def store() -> DynamoJobStore:
    return DynamoJobStore(settings().table_name)


@logger.inject_lambda_context
def mark_running(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepInput.model_validate(event)
    store().set_job_status(step.job_id, JobStatus.RUNNING, only_from=(JobStatus.PENDING,))
    return {"job_id": step.job_id}


@logger.inject_lambda_context
def dispatch_tasks(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepInput.model_validate(event)
    sent = dispatch_job(
        step.job_id, store(), S3ManifestStore(settings().manifest_bucket), task_queues(settings()), now_iso()
    )
    logger.info("dispatched tasks", extra={"job_id": step.job_id, "sent": sent})
    return {"job_id": step.job_id, "sent": sent}


@logger.inject_lambda_context
def wait_for_tasks(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Leave the task token where the last task's finisher will find it; resume now if none remains."""
    step = WaitInput.model_validate(event)
    job = store().save_resume_token(step.job_id, step.task_token)
    if job.remaining == 0:
        resume_job(step.job_id, store(), StepFunctionsResumer())
    return {"job_id": step.job_id}


@logger.inject_lambda_context
def finalize(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepInput.model_validate(event)
    job = jobs.finalize_job(step.job_id, store())
    return {"job_id": job.job_id, "status": job.status.value, "counts": job.counts.model_dump()}
