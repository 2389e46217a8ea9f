"""The job lifecycle as a Step Functions state machine, with the functions of its steps.

Mark job running -> Dispatch tasks -> Wait for tasks to finish (task token; the last task's finisher
resumes it) -> Finalize job -> Did the job succeed? A cancel or a timeout interrupts the wait with
JobStopped: Stop remaining tasks -> Finalize job. A step before the wait that fails for good (after its
retries) goes to Fail job, which cancels what is left and ends the job FAILED with the step's error (or
with the status a cancel that came first earns), so no job is left RUNNING by a workflow that stopped.
The number of state transitions is the same for a job of ten tasks and one of a hundred thousand.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.python_functions import PythonFunctions
from stacks.constructs.tables import JOB_BATCH_WRITES, JOB_WRITES, grant_job_items
from stacks.constructs.task_queues import TaskQueues

STEP_INPUT = {
    "job_id": sfn.JsonPath.string_at("$.job_id"),
    "run": sfn.JsonPath.number_at("$.run"),
    "rerun": sfn.JsonPath.object_at("$.rerun"),
}
STOP_ERROR = "JobStopped"  # tasklane.stopping.STOP_ERROR
FAILURE_PATH = "$.failure"  # where a Catch leaves the error Fail job reads (lambdas.orchestrator.handlers.FailInput)


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
        queues: TaskQueues,
    ) -> None:
        super().__init__(scope, construct_id)
        self.state_machine_name = f"{config.resource_prefix()}-job-lifecycle"
        self.state_machine_arn_by_name = Stack.of(self).format_arn(
            service="states", resource="stateMachine", resource_name=self.state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        environment = {
            "TABLE_NAME": table.table_name,
            "MANIFEST_BUCKET": manifests.bucket_name,
            "SHORT_QUEUE_URL": queues.short.queue_url,
            "LONG_QUEUE_URL": queues.long.queue_url,
            "CONTROL_QUEUE_URL": queues.control.queue_url,
        }

        def function(name: str, handler: str, description: str, timeout: int = 30) -> lambda_.Function:
            created = functions.function(
                name, handler=handler, description=description, environment=environment,
                timeout=Duration.seconds(timeout),
            )
            grant_job_items(created, table, JOB_WRITES)
            return created

        def step(name: str, handler: str, description: str, timeout: int = 30) -> tasks.LambdaInvoke:
            stepped = function(
                f"{handler.title().replace('_', '')}Function", f"lambdas.orchestrator.handlers.{handler}",
                description, timeout,
            )
            self.step_functions[handler] = stepped
            payload = STEP_INPUT if handler != "fail_job" else {
                **STEP_INPUT, "failure": sfn.JsonPath.object_at(FAILURE_PATH)
            }
            return tasks.LambdaInvoke(
                self, name, lambda_function=stepped, payload=sfn.TaskInput.from_object(payload),
                result_path=sfn.JsonPath.DISCARD, retry_on_service_exceptions=True,
            )

        self.step_functions: dict[str, lambda_.Function] = {}
        mark_running = step("Mark job running", "mark_running", "Marks a job RUNNING and starts its watchdog")
        queues.control.grant_send_messages(self.step_functions["mark_running"])

        dispatch = step("Dispatch tasks", "dispatch_tasks", "Writes a job's tasks and sends them to the queues", 900)
        dispatcher = self.step_functions["dispatch_tasks"]
        manifests.grant_read_write(dispatcher)  # reads the manifest, stores large payloads beside it
        grant_job_items(dispatcher, table, JOB_BATCH_WRITES)  # writes a job's tasks in batches
        queues.short.grant_send_messages(dispatcher)
        queues.long.grant_send_messages(dispatcher)
        dispatch.add_retry(errors=["States.ALL"], interval=Duration.seconds(2), max_attempts=4, backoff_rate=2.0)

        self.step_functions["wait_for_tasks"] = waiter = function(
            "WaitForTasksFunction", "lambdas.orchestrator.handlers.wait_for_tasks",
            "Leaves the workflow's task token where the job's last task will resume it",
        )
        wait = tasks.LambdaInvoke(
            self,
            "Wait for tasks to finish",
            lambda_function=waiter,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object({"job_id": sfn.JsonPath.string_at("$.job_id"),
                                                "task_token": sfn.JsonPath.task_token}),
            result_path=sfn.JsonPath.DISCARD,
        )
        stop = step("Stop remaining tasks", "stop_tasks", "Cancels a stopping job's PENDING and RUNNING tasks", 900)
        stop.add_retry(errors=["States.ALL"], interval=Duration.seconds(2), max_attempts=4, backoff_rate=2.0)

        finalize_function = function(
            "FinalizeFunction", "lambdas.orchestrator.handlers.finalize", "Gives a job the final status it earned"
        )
        self.step_functions["finalize"] = finalize_function
        finalize = tasks.LambdaInvoke(
            self,
            "Finalize job",
            lambda_function=finalize_function,
            payload=sfn.TaskInput.from_object(STEP_INPUT),
            result_selector={"status": sfn.JsonPath.string_at("$.Payload.status")},
            result_path="$.final",
            retry_on_service_exceptions=True,
        )
        status = "$.final.status"
        outcome = (
            sfn.Choice(self, "Did the job succeed?")
            .when(sfn.Condition.string_equals(status, "SUCCEEDED"), sfn.Succeed(self, "Job succeeded"))
            .when(sfn.Condition.string_equals(status, "CANCELLED"),
                  sfn.Fail(self, "Job cancelled", error="JobCancelled", cause="The job was cancelled"))
            .when(sfn.Condition.string_equals(status, "TIMED_OUT"),
                  sfn.Fail(self, "Job timed out", error="JobTimedOut", cause="The job ran past its timeout"))
            .otherwise(sfn.Fail(self, "Job failed", error="JobFailed", cause="Its failures exceeded its tolerance"))
        )
        fail = step("Fail job", "fail_job", "Ends a job whose workflow cannot go on FAILED, with the error", 900)
        fail.add_retry(errors=["States.ALL"], interval=Duration.seconds(2), max_attempts=4, backoff_rate=2.0)
        self.grant_resume(self.step_functions["fail_job"])
        fail.next(sfn.Fail(self, "Job could not run", error="JobWorkflowFailed",
                           cause="A step of the job's workflow failed for good; the job's error says why"))
        wait.add_catch(stop, errors=[STOP_ERROR], result_path="$.stopped")
        for failing in (mark_running, dispatch, wait):
            failing.add_catch(fail, errors=["States.ALL"], result_path=FAILURE_PATH)
        stop.next(finalize)
        definition = mark_running.next(dispatch).next(wait).next(finalize).next(outcome)
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
        # The waiter interrupts itself when its job is already stopping; a stop's last cancel may resume.
        self.grant_resume(waiter)
        self.grant_resume(self.step_functions["stop_tasks"])

    def grant_resume(self, grantee: iam.IGrantable) -> None:
        """Let `grantee` resume or interrupt a waiting execution; by name, since the machine refers to its steps."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
            resource_arns=[self.state_machine_arn_by_name],
        )
