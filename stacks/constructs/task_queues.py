"""The queues: one per task runtime, each with its dead-letter queue, and the control queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import EnvironmentConfig

DEAD_LETTER_VISIBILITY_SECONDS = 6 * 60


class TaskQueues(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        # AWS advises a visibility timeout of six times the consuming function's timeout.
        self.short, self.short_dlq = self._queue("Short", Duration.seconds(6 * config.runner_timeout_seconds), config)
        self.long, self.long_dlq = self._queue("Long", Duration.seconds(config.long_task_visibility_seconds), config)
        # Job watchdogs: delayed messages, one per job with a timeout or a window.
        self.control, self.control_dlq = self._queue("Control", Duration.seconds(6 * 60), config)

    def _queue(self, name: str, visibility: Duration, config: EnvironmentConfig) -> tuple[sqs.Queue, sqs.Queue]:
        dlq = sqs.Queue(
            self,
            f"{name}DeadLetters",
            # Consumed by the DeadLetterIntake function (60 s timeout): Lambda refuses an event source whose
            # queue hides a message for less than the function may run, and AWS advises six times as long.
            visibility_timeout=Duration.seconds(DEAD_LETTER_VISIBILITY_SECONDS),
            retention_period=Duration.days(14),
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
        )
        queue = sqs.Queue(
            self,
            f"{name}Tasks" if name != "Control" else name,
            visibility_timeout=visibility,
            retention_period=Duration.days(4),
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=config.max_receive_count),
        )
        return queue, dlq
