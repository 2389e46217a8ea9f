"""Takes in what both task dead-letter queues hold: into the dead-letter view, failing their tasks for good."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from stacks.constructs.job_workflow import JobWorkflow
from stacks.constructs.python_functions import PythonFunctions
from stacks.constructs.tables import JOB_WRITES, grant_job_items
from stacks.constructs.task_queues import TaskQueues


class DeadLetterIntake(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: PythonFunctions,
        table: dynamodb.ITable,
        queues: TaskQueues,
        workflow: JobWorkflow,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = functions.function(
            # The id it was deployed under (before the intake had its name): a new id would replace the function.
            "DeadLetterDrain",
            handler="lambdas.dead_letters.handler.lambda_handler",
            description="Records dead-lettered task messages so operators can triage and redrive them",
            environment={"TABLE_NAME": table.table_name},
            timeout=Duration.seconds(60),
        )
        grant_job_items(self.function, table, JOB_WRITES)
        # A dead letter can end its job: the drain may be the one that resumes its workflow.
        workflow.grant_resume(self.function)
        for dlq in (queues.short_dlq, queues.long_dlq):
            dlq.grant_consume_messages(self.function)
            self.function.add_event_source(sources.SqsEventSource(dlq, batch_size=10, report_batch_item_failures=True))
