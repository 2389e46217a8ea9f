"""Wiring of the domain to its AWS adapters, built once per process from validated settings."""

from __future__ import annotations

from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.aws.sqs_queue import task_queue
from tasklane.aws.stepfunctions import StepFunctionsStarter
from tasklane.jobs import JobServices
from tasklane.models import Runtime
from tasklane.ports import TaskQueue
from tasklane.settings import ApiSettings, OrchestratorSettings
from tasklane.task_packages import task_registry


def job_services(settings: ApiSettings) -> JobServices:
    return JobServices(
        store=DynamoJobStore(settings.table_name),
        manifests=S3ManifestStore(settings.manifest_bucket),
        workflow=StepFunctionsStarter(settings.state_machine_arn),
        registry=task_registry(),
        timeouts=settings.task_timeouts,
    )


def task_queues(settings: OrchestratorSettings) -> dict[Runtime, TaskQueue]:
    return {
        Runtime.LAMBDA: task_queue(settings.short_queue_url),
        Runtime.EKS: task_queue(settings.long_queue_url),
    }
