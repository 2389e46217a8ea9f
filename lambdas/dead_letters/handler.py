"""Drains the task queues' dead-letter queues into the dead-letter view (see tasklane/dead_letter_intake.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.stepfunctions import StepFunctionsResumer
from tasklane.dead_letter_intake import DeadMessage, take_in
from tasklane.provided import provided
from tasklane.settings import DeadLetterSettings

logger = Logger(service="tasklane-dead-letters")
processor = BatchProcessor(event_type=EventType.SQS)


@provided
def store() -> DynamoJobStore:
    return DynamoJobStore(DeadLetterSettings().table_name)


def handle(record: SQSRecord) -> None:
    attributes = {name: value.string_value or "" for name, value in (record.message_attributes or {}).items()}
    message = DeadMessage(
        message_id=record.message_id, body=record.body,
        receive_count=int(record.attributes.approximate_receive_count), attributes=attributes,
    )
    letters = take_in(message, store(), StepFunctionsResumer())
    logger.info("took in a dead-lettered message", extra={"message_id": record.message_id, "kept": len(letters)})


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
