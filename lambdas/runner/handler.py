"""The short-task runner: an SQS event source mapping delivers batches; failed records are reported.

A record carries one task or a bundle of them (short tasks travel ten to a message). Final outcomes
are committed together after the batch, in one DynamoDB transaction per job. A task due for another
attempt stays on the queue, hidden by ChangeMessageVisibility for its backoff delay, and is reported as
a batch item failure; a bundled one leaves its bundle as a delayed message of its own. One consistent
read per batch finds the jobs asked to stop, whose tasks are not started. A task the invocation has no
longer time to run to its timeout (every task has one) is sent on as a message of its own, its attempt
unspent, so what finished is committed before the runner's own deadline.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from tasklane.attempts import TaskOutcome
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.aws.sqs_queue import task_queue
from tasklane.aws.stepfunctions import StepFunctionsResumer
from tasklane.deliveries import Delivery, DeliveryHandler
from tasklane.flow import release
from tasklane.models import Runtime, TaskBundle, TaskMessage, read_queue_body_or_why_not, tasks_of
from tasklane.ports import TaskQueue
from tasklane.provided import provided
from tasklane.settings import RunnerSettings
from tasklane.task_packages import task_registry

logger = Logger(service="tasklane-runner")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@provided
def runner() -> DeliveryHandler:
    settings = RunnerSettings()
    store = DynamoJobStore(settings.table_name)
    short_queue = task_queue(settings.short_queue_url)
    queues: dict[Runtime, TaskQueue] = {
        Runtime.LAMBDA: short_queue, Runtime.EKS: task_queue(settings.long_queue_url),
    }
    return DeliveryHandler(
        store=store,
        resumer=StepFunctionsResumer(),
        retries=short_queue,
        registry=task_registry(),
        load_payload=S3ManifestStore(settings.manifest_bucket).get_payload,
        release=partial(release, store=store, queues=queues),
        send_later=short_queue.send_later,
        default_timeout_seconds=settings.task_timeouts.default_seconds[Runtime.LAMBDA],
        max_timeout_seconds=settings.task_timeouts.max_seconds[Runtime.LAMBDA],
    )


def read_bodies(records: list[dict[str, Any]]) -> dict[str, TaskBundle | TaskMessage | ValidationError]:
    """Each record's body, read once, by message id: a task, a bundle, or why it is neither."""
    return {record["messageId"]: read_queue_body_or_why_not(record["body"]) for record in records}


def run_batch(
    records: list[dict[str, Any]], task_runner: DeliveryHandler, context: LambdaContext | None
) -> PartialItemFailureResponse:
    finals: list[TaskOutcome] = []
    bodies = read_bodies(records)
    readable = [body for body in bodies.values() if not isinstance(body, ValidationError)]
    stopping = task_runner.store.stopped_jobs(sorted({task.job_id for body in readable for task in tasks_of(body)}))
    time_left = (lambda: context.get_remaining_time_in_millis() / 1000) if context is not None else None

    def run_record(record: SQSRecord) -> None:
        delivery = Delivery(
            message_id=record.message_id,
            body=record.body,
            receipt_handle=record.receipt_handle,
            attempt=int(record.attributes.approximate_receive_count),
        )
        body = bodies[record.message_id]
        if isinstance(body, ValidationError):
            # It will never parse: back at once, so its receives run out and SQS dead-letters it soon.
            task_runner.retries.retry_later(record.receipt_handle, 0)
            raise body
        if isinstance(body, TaskBundle):
            finals.extend(task_runner.run_bundle(delivery, body.tasks, stopping_jobs=stopping, time_left=time_left))
            return
        outcome = task_runner.run(delivery, stopping_jobs=stopping, message=body, time_left=time_left)
        if outcome is not None:
            finals.append(outcome)

    with processor(records=records, handler=run_record, lambda_context=context):
        processor.process()
    # Raising here fails the whole batch: every message comes back and duplicates are refused on commit.
    task_runner.commit(finals)
    return processor.response()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return run_batch(event["Records"], runner(), context)
