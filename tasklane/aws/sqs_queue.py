"""Task queues on SQS."""

from __future__ import annotations

import math
from typing import Any

from tasklane.aws.clients import client, parallel
from tasklane.models import TaskMessage

SQS_BATCH = 10
MAX_VISIBILITY_SECONDS = 12 * 60 * 60


class QueueSendFailed(Exception):
    pass


def _routing(message: TaskMessage) -> dict[str, Any]:
    """Where a message belongs, outside its body: a body that cannot be read is still traced to its task."""
    fields = {"tenant": message.tenant, "job_id": message.job_id, "task_id": message.task_id}
    return {name: {"DataType": "String", "StringValue": value} for name, value in fields.items() if value}


class SqsTaskQueue:
    def __init__(self, queue_url: str, sqs: Any = None) -> None:
        self.queue_url = queue_url
        self._sqs = sqs or client("sqs")

    def send(self, messages: list[TaskMessage]) -> None:
        batches = [messages[start : start + SQS_BATCH] for start in range(0, len(messages), SQS_BATCH)]
        # Batches go out side by side: sending is bound by round trips, not by the queue.
        list(parallel().map(self._send_batch, batches))

    def _send_batch(self, batch: list[TaskMessage]) -> None:
        entries = [
            {"Id": str(i), "MessageBody": m.model_dump_json(), "MessageAttributes": _routing(m)}
            for i, m in enumerate(batch)
        ]
        for _ in range(5):
            response = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed_ids = {f["Id"] for f in response.get("Failed", [])}
            if not failed_ids:
                return
            entries = [e for e in entries if e["Id"] in failed_ids]
        raise QueueSendFailed(f"{len(entries)} messages could not be sent to {self.queue_url}")

    def retry_later(self, receipt_handle: str, delay_seconds: float) -> None:
        """Hide a message for the backoff delay; SQS, not a sleeping worker, times the next attempt."""
        self._sqs.change_message_visibility(
            QueueUrl=self.queue_url,
            ReceiptHandle=receipt_handle,
            # Rounded up: SQS counts whole seconds, and a retry must never come sooner than its backoff.
            VisibilityTimeout=min(MAX_VISIBILITY_SECONDS, max(0, math.ceil(delay_seconds))),
        )
