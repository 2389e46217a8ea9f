"""The job workflow's steps; each is a separate function of the state machine, named for its state."""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from tasklane import jobs, stopping
from tasklane.aws.control_queue import SqsControlQueue
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.aws.stepfunctions import StepFunctionsResumer
from tasklane.clock import now_iso
from tasklane.completion import resume_job
from tasklane.dispatch import dispatch_job, dispatch_rerun
from tasklane.errors import JobNotFound
from tasklane.models import JobStatus
from tasklane.provided import provided
from tasklane.settings import OrchestratorSettings
from tasklane.stopping import cancel_remaining_tasks, interrupt_wait
from tasklane.watchdog import first_watch
from tasklane.wiring import task_queues

logger = Logger(service="tasklane-orchestrator")


class Rerun(BaseModel):
    task_ids: list[str] | None = None
    payload: dict[str, Any] | None = None
    payload_ref: str | None = None
    by: str = "unknown"


class StepInput(BaseModel):
    job_id: str
    run: int = 0
    rerun: Rerun | None = None


class WaitInput(StepInput):
    task_token: str


class StepFailure(BaseModel):
    """What a Catch puts in the state: the error's name and its cause (a Lambda error's JSON)."""

    Error: str = "States.Unknown"
    Cause: str | None = None

    def describe(self) -> str:
        try:
            cause = json.loads(self.Cause or "")
        except ValueError:
            cause = self.Cause
        message = cause.get("errorMessage") if isinstance(cause, dict) else cause
        return f"{self.Error}: {message}" if message else self.Error


class FailInput(StepInput):
    failure: StepFailure = StepFailure()


@provided
def settings() -> OrchestratorSettings:
    return OrchestratorSettings()


@provided
def store() -> DynamoJobStore:
    return DynamoJobStore(settings().table_name)


@logger.inject_lambda_context
def mark_running(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepInput.model_validate(event)
    store().set_job_status(step.job_id, JobStatus.RUNNING, only_from=(JobStatus.PENDING,))
    job = store().get_job(step.job_id)
    if job is None:
        raise JobNotFound(step.job_id)
    needed = first_watch(job, time.time())
    if needed is not None:
        SqsControlQueue(settings().control_queue_url).schedule(*needed)
    return {"job_id": step.job_id}


@logger.inject_lambda_context
def dispatch_tasks(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepInput.model_validate(event)
    queues = task_queues(settings())
    if step.run == 0:
        manifests = S3ManifestStore(settings().manifest_bucket)
        sent = dispatch_job(step.job_id, store(), manifests, queues, now_iso())
    else:
        rerun = step.rerun or Rerun()
        sent = dispatch_rerun(
            step.job_id, step.run, rerun.task_ids, rerun.payload, rerun.by, store(), queues, rerun.payload_ref
        )
    logger.info("dispatched tasks", extra={"job_id": step.job_id, "run": step.run, "sent": sent})
    return {"job_id": step.job_id, "sent": sent}


@logger.inject_lambda_context
def wait_for_tasks(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Leave the task token where the last task's finisher will find it; resume now if none remains."""
    step = WaitInput.model_validate(event)
    job = store().save_resume_token(step.job_id, step.task_token)
    if job.stop_reason is not None:
        interrupt_wait(step.job_id, job.stop_reason, store(), StepFunctionsResumer())
    elif job.remaining == 0:
        resume_job(step.job_id, store(), StepFunctionsResumer())
    return {"job_id": step.job_id}


@logger.inject_lambda_context
def stop_tasks(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepInput.model_validate(event)
    cancelled = cancel_remaining_tasks(step.job_id, store(), StepFunctionsResumer())
    logger.info("cancelled tasks", extra={"job_id": step.job_id, "cancelled": cancelled})
    return {"job_id": step.job_id, "cancelled": cancelled}


@logger.inject_lambda_context
def fail_job(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """A step failed for good: the job ends FAILED with that step's error, rather than RUNNING forever."""
    step = FailInput.model_validate(event)
    error = f"the job's workflow could not go on: {step.failure.describe()}"
    job = stopping.fail_job(step.job_id, error, store(), StepFunctionsResumer())
    logger.warning("job failed by its workflow", extra={"job_id": step.job_id, "error": error})
    return {"job_id": job.job_id, "status": job.status.value}


@logger.inject_lambda_context
def finalize(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepInput.model_validate(event)
    job = jobs.finalize_job(step.job_id, store())
    return {"job_id": job.job_id, "status": job.status.value, "counts": job.counts.model_dump()}
