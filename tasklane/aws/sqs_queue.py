"""Task queues on SQS: tasks go out in batches of 10 messages, several tasks to a message."""

from __future__ import annotations

import math
from typing import Any

from tasklane.aws.clients import lazy_client, parallel
from tasklane.models import TaskMessage

SQS_BATCH = 10
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
MAX_DELAY_SECONDS = 15 * 60
# Tasks travel ten to a message: a tenth of the sends, receives, deletes and invocations.
TASK_BUNDLE = 10
# SQS takes 256 KiB per message, attributes included; task payloads over 64 KiB travel by reference.
BUNDLE_MAX_BYTES = 200 * 1024


class QueueSendFailed(Exception):
    pass


def _routing(tasks: list[TaskMessage]) -> dict[str, Any]:
    """Where a message belongs, outside its body: a body that cannot be read is still traced to its tasks."""
    first, last = tasks[0], tasks[-1]
    task_ids = first.task_id if len(tasks) == 1 else f"{first.task_id}..{last.task_id}"
    fields = {"tenant": first.tenant, "job_id": first.job_id, "task_id": task_ids}
    return {name: {"DataType": "String", "StringValue": value} for name, value in fields.items() if value}


def _bodies(messages: list[TaskMessage], bundle_size: int) -> list[tuple[str, list[TaskMessage]]]:
    """Message bodies with the tasks each carries: tasks of one job, in order, packed up to the limits."""
    bodies: list[tuple[str, list[TaskMessage]]] = []
    group: list[tuple[TaskMessage, str]] = []
    size = 0
    for message in messages:
        body = message.model_dump_json()
        length = len(body.encode())  # SQS counts bytes, and a payload may not be ASCII
        full = len(group) >= bundle_size or size + length > BUNDLE_MAX_BYTES
        if group and (full or message.job_id != group[0][0].job_id):
            bodies.append(_packed(group))
            group, size = [], 0
        group.append((message, body))
        size += length + 1
    if group:
        bodies.append(_packed(group))
    return bodies


def _packed(group: list[tuple[TaskMessage, str]]) -> tuple[str, list[TaskMessage]]:
    tasks = [message for message, _ in group]
    if len(group) == 1:
        return group[0][1], tasks
    # TaskBundle(tasks=tasks).model_dump_json(), from the tasks' JSON already made.
    return '{"tasks":[' + ",".join(body for _, body in group) + "]}", tasks


class SqsTaskQueue:
    def __init__(self, queue_url: str, sqs: Any = None, *, bundle_size: int = 1) -> None:
        self.queue_url = queue_url
        self.bundle_size = bundle_size
        self._sqs = sqs or lazy_client("sqs")

    def send(self, messages: list[TaskMessage]) -> None:
        entries = [
            {"Id": str(i % SQS_BATCH), "MessageBody": body, "MessageAttributes": _routing(tasks)}
            for i, (body, tasks) in enumerate(_bodies(messages, self.bundle_size))
        ]
        batches = [entries[start : start + SQS_BATCH] for start in range(0, len(entries), SQS_BATCH)]
        # Batches go out side by side: sending is bound by round trips, not by the queue.
        list(parallel().map(self._send_batch, batches))

    def _send_batch(self, entries: list[dict[str, Any]]) -> None:
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

    def send_later(self, message: TaskMessage, delay_seconds: float) -> None:
        """Send one task as a message of its own, delayed (up to SQS's 15 minutes; `not_before` says the rest)."""
        self._sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=message.model_dump_json(),
            MessageAttributes=_routing([message]),
            DelaySeconds=min(MAX_DELAY_SECONDS, max(0, math.ceil(delay_seconds))),
        )


def task_queue(queue_url: str) -> SqsTaskQueue:
    """A task queue whose tasks travel bundled: the short-task runner and the long-task worker unpack them."""
    return SqsTaskQueue(queue_url, bundle_size=TASK_BUNDLE)
