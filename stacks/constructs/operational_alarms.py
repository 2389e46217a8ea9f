"""The alarms an operator acts on, published to one SNS topic (subscribe a pager or a chat to it)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.constructs.task_queues import TaskQueues

FIVE_MINUTES = Duration.minutes(5)


class OperationalAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queues: TaskQueues,
        runner: lambda_.IFunction,
        drain: lambda_.IFunction,
        state_machine: sfn.IStateMachine,
        long_task_max_wait_minutes: int = 15,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Alarms", enforce_ssl=True, display_name="Tasklane alarms")
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

    def _add(self, name: str, metric: cloudwatch.IMetric, *, threshold: float, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.alarms[name] = alarm
