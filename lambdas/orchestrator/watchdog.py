"""Job watchdogs, fed by the control queue: time jobs out at their deadline, heal stalled windows."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tasklane.aws.control_queue import SqsControlQueue
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.stepfunctions import StepFunctionsResumer
from tasklane.provided import provided
from tasklane.settings import OrchestratorSettings
from tasklane.watchdog import WatchRequest, watch
from tasklane.wiring import task_queues

logger = Logger(service="tasklane-watchdog")
processor = BatchProcessor(event_type=EventType.SQS)


@provided
def settings() -> OrchestratorSettings:
    return OrchestratorSettings()


def handle(record: SQSRecord) -> None:
    request = WatchRequest.model_validate_json(record.body)
    store = DynamoJobStore(settings().table_name)
    delay = watch(request, store, StepFunctionsResumer(), task_queues(settings()), time.time())
    if delay is not None:
        SqsControlQueue(settings().control_queue_url).schedule(request, delay)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
