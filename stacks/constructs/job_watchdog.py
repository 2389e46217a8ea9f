"""Job watchdogs: a function fed by the control queue times jobs out and heals stalled windows."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.job_workflow import JobWorkflow
from stacks.constructs.python_functions import PythonFunctions
from stacks.constructs.tables import JOB_WRITES, grant_job_items
from stacks.constructs.task_queues import TaskQueues


class JobWatchdog(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: PythonFunctions,
        table: dynamodb.ITable,
        manifests: s3.IBucket,
        queues: TaskQueues,
        workflow: JobWorkflow,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = functions.function(
            "Watchdog",
            handler="lambdas.orchestrator.watchdog.lambda_handler",
            description="Times jobs out at their deadline and heals stalled windowed jobs",
            environment={
                "TABLE_NAME": table.table_name,
                "MANIFEST_BUCKET": manifests.bucket_name,
                "SHORT_QUEUE_URL": queues.short.queue_url,
                "LONG_QUEUE_URL": queues.long.queue_url,
                "CONTROL_QUEUE_URL": queues.control.queue_url,
            },
            timeout=Duration.seconds(60),
        )
        grant_job_items(self.function, table, JOB_WRITES)
        queues.control.grant_consume_messages(self.function)
        queues.control.grant_send_messages(self.function)
        queues.short.grant_send_messages(self.function)
        queues.long.grant_send_messages(self.function)
        workflow.grant_resume(self.function)
        self.function.add_event_source(
            sources.SqsEventSource(queues.control, batch_size=10, report_batch_item_failures=True)
        )
