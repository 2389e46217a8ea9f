"""The short-task runner: a Lambda function fed by the short-task queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.job_workflow import JobWorkflow
from stacks.constructs.python_functions import PythonFunctions
from stacks.constructs.tables import JOB_WRITES, grant_job_items
from stacks.constructs.task_queues import TaskQueues


class TaskRunner(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        functions: PythonFunctions,
        table: dynamodb.ITable,
        manifests: s3.IBucket,
        queues: TaskQueues,
        workflow: JobWorkflow,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function: lambda_.Function = functions.function(
            "Runner",
            handler="lambdas.runner.handler.lambda_handler",
            description="Runs short tasks from the short-task queue",
            environment={
                "TABLE_NAME": table.table_name,
                "MANIFEST_BUCKET": manifests.bucket_name,
                "SHORT_QUEUE_URL": queues.short.queue_url,
                "LONG_QUEUE_URL": queues.long.queue_url,
                **config.task_timeout_environment(),
            },
            timeout=Duration.seconds(config.runner_timeout_seconds),
            memory_mb=1024,
        )
        grant_job_items(self.function, table, JOB_WRITES)
        queue = queues.short
        queue.grant_consume_messages(self.function)
        # A finished task of a windowed job sends the job's next task, whichever runtime it needs.
        queues.short.grant_send_messages(self.function)
        queues.long.grant_send_messages(self.function)
        manifests.grant_read(self.function, "payloads/*")
        workflow.grant_resume(self.function)
        self.function.add_event_source(runner_event_source(config, queue))


def runner_event_source(config: EnvironmentConfig, queue: sqs.IQueue) -> sources.SqsEventSource:
    """The short-task queue's mapping: bounded concurrency, or provisioned pollers when the environment asks."""
    pollers = config.runner_provisioned_pollers
    return sources.SqsEventSource(
        queue,
        batch_size=config.runner_batch_size,
        max_batching_window=Duration.seconds(config.runner_batching_window_seconds)
        if config.runner_batching_window_seconds
        else None,
        report_batch_item_failures=True,
        # AWS refuses MaximumConcurrency beside provisioned mode ("services-sqs-scaling").
        max_concurrency=None if pollers else config.runner_max_concurrency,
        provisioned_poller_config=lambda_.ProvisionedPollerConfig(
            minimum_pollers=pollers.minimum, maximum_pollers=pollers.maximum) if pollers else None,
    )
