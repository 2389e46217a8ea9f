"""The control queue: watchdog messages, delayed until their check is due."""

from __future__ import annotations

from typing import Any

from tasklane.aws.clients import lazy_client
from tasklane.watchdog import MAX_DELAY_SECONDS, WatchRequest


class SqsControlQueue:
    def __init__(self, queue_url: str, sqs: Any = None) -> None:
        self.queue_url = queue_url
        self._sqs = sqs or lazy_client("sqs")

    def schedule(self, request: WatchRequest, delay_seconds: int) -> None:
        self._sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=request.model_dump_json(),
            DelaySeconds=max(0, min(MAX_DELAY_SECONDS, delay_seconds)),
        )
