"""The alarms an operator acts on, published to one SNS topic: a new one, with the environment's
`alarm_email` subscribed, or an existing topic given by `alarm_topic_arn`.

The orchestration stack owns the topic and the alarms on what it holds (queues, workflow, runner, tables);
the API, live and workers stacks add theirs with `add`. Every alarm has a runbook entry in docs/OPERATIONS.md.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.task_queues import TaskQueues

FIVE_MINUTES = Duration.minutes(5)
# More failed executions than this in five minutes: more than a job's own tasks failing (see the runbook).
FAILED_EXECUTIONS_THRESHOLD = 25


def table_throttles(alarms: OperationalAlarms, scope: Construct, name: str, table: dynamodb.ITable) -> None:
    """Read and write throttling of one table: one metric per alarm (the embedded AWS has no metric math)."""
    for kind in ("Read", "Write"):
        alarms.add(
            scope,
            f"{name}{kind}Throttled",
            table.metric(f"{kind}ThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
            threshold=1,
            description=f"DynamoDB throttled {kind.lower()}s of the {name} table: clients retry, but a hot "
            "partition or an account limit slows every job (see the runbook).",
        )


class OperationalAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        queues: TaskQueues,
        runner: lambda_.IFunction,
        drain: lambda_.IFunction,
        state_machine: sfn.IStateMachine,
        step_functions: dict[str, lambda_.IFunction],
        tables: dict[str, dynamodb.ITable],
        long_task_max_wait_minutes: int = 15,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic: sns.ITopic
        if config.alarm_topic_arn:
            self.topic = sns.Topic.from_topic_arn(self, "Alarms", config.alarm_topic_arn)
        else:
            self.topic = sns.Topic(self, "Alarms", enforce_ssl=True, display_name=f"Tasklane {config.name} alarms")
        if config.alarm_email:
            # SNS mails a confirmation link first: alarms reach the address once it is confirmed.
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        # One metric per alarm (no metric math): simpler to read, and the embedded AWS has no metric math.
        for name, dlq in (("ShortDeadLettersPiling", queues.short_dlq), ("LongDeadLettersPiling", queues.long_dlq)):
            self._add(
                name,
                dlq.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES),
                threshold=10,
                description="Messages wait in a task DLQ: the dead-letter drain is failing (see its logs); "
                "nothing is lost, but /dlq does not show them yet.",
            )
        self._add(
            "ShortTasksWaiting",
            queues.short.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES),
            threshold=300,
            description="A short task has waited over 5 minutes: the runner is throttled or failing.",
        )
        self._add(
            "LongTasksWaiting",
            queues.long.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES),
            threshold=long_task_max_wait_minutes * 60,
            description="A long task has waited too long: the worker fleet is at its maximum, or its nodes are.",
        )
        self._add(
            "RunnerErrors",
            runner.metric_errors(period=FIVE_MINUTES),
            threshold=1,
            description="The short-task runner itself failed (not a task): batches are retried; read its logs.",
        )
        self._add(
            "RunnerThrottled",
            runner.metric_throttles(period=FIVE_MINUTES),
            threshold=10,
            description="The runner is throttled: raise runner_max_concurrency or the account's concurrency.",
        )
        self._add(
            "DrainErrors",
            drain.metric_errors(period=FIVE_MINUTES),
            threshold=1,
            description="The dead-letter drain failed: dead-lettered messages wait in their DLQ.",
        )
        for name, metric in (
            ("WorkflowsTimedOut", state_machine.metric_timed_out(period=FIVE_MINUTES)),
            ("WorkflowsAborted", state_machine.metric_aborted(period=FIVE_MINUTES)),
        ):
            self._add(
                name,
                metric,
                threshold=1,
                description="A job's workflow timed out or was aborted outside the platform: its job may be stuck; "
                "failed, cancelled and timed-out jobs end in Fail states and do not count here.",
            )
        self._add(
            "WorkflowsFailing",
            state_machine.metric_failed(period=FIVE_MINUTES),
            threshold=FAILED_EXECUTIONS_THRESHOLD,
            description=f"{FAILED_EXECUTIONS_THRESHOLD}+ job workflows failed in 5 minutes: a failed job ends "
            "this way too, but this many at once is usually a broken task type or a failing step.",
        )
        for step, function in step_functions.items():
            title = step.title().replace("_", "")
            self._add(
                f"Step{title}Errors",
                function.metric_errors(period=FIVE_MINUTES),
                threshold=1,
                description=f"The workflow step {step} failed: the step is retried, then the job's workflow fails.",
            )
        self._add(
            "ControlDeadLettersPiling",
            queues.control_dlq.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES),
            threshold=1,
            description="A job watchdog message was dead-lettered: that job's timeout or window check stopped; "
            "nothing consumes this queue, read the message and redrive it to the control queue.",
        )
        for name, table in tables.items():
            table_throttles(self, self, name, table)

    def add(
        self,
        scope: Construct,
        name: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
    ) -> cloudwatch.Alarm:
        """An alarm in `scope` (any stack of the environment) that publishes to this topic."""
        alarm = cloudwatch.Alarm(
            scope,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.alarms[name] = alarm
        return alarm

    def _add(self, name: str, metric: cloudwatch.IMetric, *, threshold: float, description: str) -> None:
        self.add(self, name, metric, threshold=threshold, description=description)
