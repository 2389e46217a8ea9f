"""Consuming a task queue on SQS: long-poll receive, batched deletes and visibility changes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tasklane.aws.clients import client
from tasklane.aws.sqs_queue import MAX_VISIBILITY_SECONDS, SQS_BATCH
from tasklane.consumer import BatchFailure
from tasklane.deliveries import Delivery

MAX_WAIT_SECONDS = 20
# Entries SQS failed on its side (SenderFault false) are worth another try; botocore already retried the
# call as a whole, so a couple of rounds is enough.
ENTRY_RETRY_ROUNDS = 3


class SqsConsumer:
    def __init__(self, queue_url: str, sqs: Any = None) -> None:
        self.queue_url = queue_url
        self._sqs = sqs or client("sqs")

    def receive(self, max_messages: int, *, wait_seconds: int, visibility_seconds: int) -> list[Delivery]:
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(SQS_BATCH, max_messages)),
            WaitTimeSeconds=max(0, min(MAX_WAIT_SECONDS, wait_seconds)),
            VisibilityTimeout=_visibility(visibility_seconds),
            AttributeNames=["ApproximateReceiveCount"],
        )
        return [
            Delivery(
                message_id=m["MessageId"],
                body=m["Body"],
                receipt_handle=m["ReceiptHandle"],
                attempt=int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            )
            for m in response.get("Messages", [])
        ]

    def delete(self, receipt_handles: Sequence[str]) -> list[BatchFailure]:
        # A superseded receipt handle (the message was received again since) still succeeds here but
        # "might not" delete the message, per the DeleteMessage reference: callers must not rely on either.
        return self._in_batches(self._sqs.delete_message_batch, receipt_handles, {})

    def change_visibility(self, receipt_handles: Sequence[str], timeout_seconds: int) -> list[BatchFailure]:
        extra = {"VisibilityTimeout": _visibility(timeout_seconds)}
        return self._in_batches(self._sqs.change_message_visibility_batch, receipt_handles, extra)

    def _in_batches(self, call: Any, receipt_handles: Sequence[str], extra: dict[str, Any]) -> list[BatchFailure]:
        failures: list[BatchFailure] = []
        for start in range(0, len(receipt_handles), SQS_BATCH):
            batch = receipt_handles[start : start + SQS_BATCH]
            # Ids need only be unique within one call; the position maps a result back to its handle.
            entries = {str(i): {"Id": str(i), "ReceiptHandle": h, **extra} for i, h in enumerate(batch)}
            for round_ in range(ENTRY_RETRY_ROUNDS):
                response = call(QueueUrl=self.queue_url, Entries=list(entries.values()))
                retry: dict[str, dict[str, Any]] = {}
                for failed in response.get("Failed", []):
                    entry = entries[failed["Id"]]
                    if not failed.get("SenderFault", False) and round_ + 1 < ENTRY_RETRY_ROUNDS:
                        retry[failed["Id"]] = entry
                    else:
                        code, reason = failed.get("Code", "Unknown"), failed.get("Message", "")
                        failures.append(BatchFailure(entry["ReceiptHandle"], code, reason))
                if not retry:
                    break
                entries = retry
        return failures


def _visibility(seconds: int) -> int:
    return max(0, min(MAX_VISIBILITY_SECONDS, int(seconds)))
