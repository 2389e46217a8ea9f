"""The long-task worker fleet on EKS; data and queues come from the stacks that own them."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.job_workflow import JobWorkflow
from stacks.constructs.operational_alarms import OperationalAlarms
from stacks.constructs.worker_fleet import WorkerFleet
from stacks.nag import apply_nag


class WorkersStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EnvironmentConfig,
        long_queue: sqs.IQueue,
        short_queue: sqs.IQueue,
        table: dynamodb.ITable,
        manifest_bucket: s3.IBucket,
        workflow: JobWorkflow,
        alarms: OperationalAlarms,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.fleet = WorkerFleet(
            self, "Fleet", config=config, long_queue=long_queue, short_queue=short_queue, table=table,
            manifest_bucket=manifest_bucket, alarms=alarms,
        )
        # The worker that finishes a job's last task resumes the job's workflow.
        workflow.grant_resume(self.fleet.worker_service_account)
        apply_nag(self, "workers")
