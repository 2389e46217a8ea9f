"""Everything that moves tasks: the queues, the job workflow and the short-task runner."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.dead_letter_intake import DeadLetterIntake
from stacks.constructs.job_watchdog import JobWatchdog
from stacks.constructs.job_workflow import JobWorkflow
from stacks.constructs.operational_alarms import OperationalAlarms
from stacks.constructs.python_functions import PythonFunctions
from stacks.constructs.task_queues import TaskQueues
from stacks.constructs.task_runner import TaskRunner
from stacks.nag import apply_nag


class OrchestrationStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        table: dynamodb.ITable,
        idempotency_table: dynamodb.ITable,
        manifests: s3.IBucket,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        functions = PythonFunctions(self, "Functions", config=config)
        self.queues = TaskQueues(self, "TaskQueues", config=config)
        self.workflow = JobWorkflow(
            self, "JobWorkflow", config=config, functions=functions, table=table, manifests=manifests,
            queues=self.queues,
        )
        self.runner = TaskRunner(
            self, "ShortTaskRunner", config=config, functions=functions, table=table, manifests=manifests,
            queues=self.queues, workflow=self.workflow,
        )
        self.watchdog = JobWatchdog(
            self, "JobWatchdog", functions=functions, table=table, manifests=manifests, queues=self.queues,
            workflow=self.workflow,
        )
        # Under the construct id it was deployed with, so that deployed resources are kept (dead_letter_intake.py).
        self.dead_letter_intake = DeadLetterIntake(
            self, "DeadLetterDrain", functions=functions, table=table, queues=self.queues, workflow=self.workflow
        )
        self.alarms = OperationalAlarms(
            self, "Alarms", config=config, queues=self.queues, runner=self.runner.function,
            drain=self.dead_letter_intake.function, state_machine=self.workflow.state_machine,
            step_functions=dict(self.workflow.step_functions),
            tables={"Jobs": table, "Idempotency": idempotency_table},
        )
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn)
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
        CfnOutput(self, "ShortQueueUrl", value=self.queues.short.queue_url)
        CfnOutput(self, "LongQueueUrl", value=self.queues.long.queue_url)
        CfnOutput(self, "ShortDeadLetterQueueUrl", value=self.queues.short_dlq.queue_url)
        CfnOutput(self, "LongDeadLetterQueueUrl", value=self.queues.long_dlq.queue_url)
        CfnOutput(self, "ControlQueueUrl", value=self.queues.control.queue_url)
        apply_nag(self, "orchestration")
