"""The job lifecycle as a Step Functions state machine.

Mark job running -> Dispatch tasks -> Wait for tasks to finish (task token; the last task's finisher
resumes it) -> Finalize job -> Job succeeded | Job failed. The number of state transitions is the same
for a job of ten tasks and one of a hundred thousand.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.python_functions import PythonFunctions

JOB_ID = {"job_id": sfn.JsonPath.string_at("$.job_id")}


class JobWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        functions: PythonFunctions,
        table: dynamodb.ITable,
        manifests: s3.IBucket,
        short_queue: sqs.IQueue,
        long_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.state_machine_name = f"{config.resource_prefix()}-job-lifecycle"
        self.state_machine_arn_by_name = stack.format_arn(
            service="states", resource="stateMachine", resource_name=self.state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        environment = {
            "TABLE_NAME": table.table_name,
            "MANIFEST_BUCKET": manifests.bucket_name,
            "SHORT_QUEUE_URL": short_queue.queue_url,
            "LONG_QUEUE_URL": long_queue.queue_url,
        }

        def step(name: str, handler: str, description: str, timeout: int = 30) -> tasks.LambdaInvoke:
            function = functions.function(
                f"{handler.title().replace('_', '')}Function",
                handler=f"lambdas.orchestrator.handlers.{handler}",
                description=description,
                environment=environment,
                timeout=Duration.seconds(timeout),
            )
            table.grant_read_write_data(function)
            self.step_functions.append(function)
            return tasks.LambdaInvoke(
                self, name, lambda_function=function, payload=sfn.TaskInput.from_object(JOB_ID),
                result_path=sfn.JsonPath.DISCARD, retry_on_service_exceptions=True,
            )

        self.step_functions: list = []
        mark_running = step("Mark job running", "mark_running", "Marks a job RUNNING when its workflow starts")
        dispatch = step("Dispatch tasks", "dispatch_tasks", "Writes a job's tasks and sends them to the task queues", 900)
        manifests.grant_read(self.step_functions[-1])
        short_queue.grant_send_messages(self.step_functions[-1])
        long_queue.grant_send_messages(self.step_functions[-1])
        dispatch.add_retry(errors=["States.ALL"], interval=Duration.seconds(2), max_attempts=4, backoff_rate=2.0)

        wait_function = functions.function(
            "WaitForTasksFunction",
            handler="lambdas.orchestrator.handlers.wait_for_tasks",
            description="Leaves the workflow's task token where the job's last task will resume it",
            environment=environment,
        )
        table.grant_read_write_data(wait_function)
        self.step_functions.append(wait_function)
        wait = tasks.LambdaInvoke(
            self,
            "Wait for tasks to finish",
            lambda_function=wait_function,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object({**JOB_ID, "task_token": sfn.JsonPath.task_token}),
            result_path=sfn.JsonPath.DISCARD,
        )

        finalize_function = functions.function(
            "FinalizeFunction",
            handler="lambdas.orchestrator.handlers.finalize",
            description="Gives a job the final status its task counts earn",
            environment=environment,
        )
        table.grant_read_write_data(finalize_function)
        self.step_functions.append(finalize_function)
        finalize = tasks.LambdaInvoke(
            self,
            "Finalize job",
            lambda_function=finalize_function,
            payload=sfn.TaskInput.from_object(JOB_ID),
            result_selector={"status": sfn.JsonPath.string_at("$.Payload.status")},
            result_path="$.final",
            retry_on_service_exceptions=True,
        )
        succeeded = sfn.Choice(self, "Did the job succeed?")
        succeeded.when(sfn.Condition.string_equals("$.final.status", "SUCCEEDED"), sfn.Succeed(self, "Job succeeded"))
        succeeded.otherwise(sfn.Fail(self, "Job failed", error="JobFailed", cause="The job's failures exceeded its tolerance"))

        definition = mark_running.next(dispatch).next(wait).next(finalize).next(succeeded)
        self.state_machine = sfn.StateMachine(
            self,
            "JobLifecycle",
            state_machine_name=self.state_machine_name,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(
                    self, "ExecutionLogs", removal_policy=config.removal_policy,
                    retention=logs.RetentionDays.ONE_MONTH,
                ),
                level=sfn.LogLevel.ALL,
            ),
        )
        self.grant_resume(wait_function)

    def grant_resume(self, grantee: iam.IGrantable) -> None:
        """Let `grantee` resume a waiting execution; by name, since the machine itself refers to the waiter."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
            resource_arns=[self.state_machine_arn_by_name],
        )
