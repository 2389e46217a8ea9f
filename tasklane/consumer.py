"""The queue as a long-running consumer sees it: receive, acknowledge, and move visibility in batches.

The Lambda runner never needs this (its event source mapping receives and deletes for it); the
long-task worker does. The adapter is tasklane/aws/sqs_consumer.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tasklane.deliveries import Delivery


@dataclass(frozen=True)
class BatchFailure:
    """One entry of a batch call that the queue refused, e.g. a receipt handle that has expired."""

    receipt_handle: str
    code: str
    message: str = ""


class QueueConsumer(Protocol):
    def receive(self, max_messages: int, *, wait_seconds: int, visibility_seconds: int) -> list[Delivery]:
        """Long-poll for at most `max_messages` (1 to 10), each hidden for `visibility_seconds`."""
        ...

    def delete(self, receipt_handles: Sequence[str]) -> list[BatchFailure]:
        """Acknowledge messages, any number of them; returns the entries the queue refused."""
        ...

    def change_visibility(self, receipt_handles: Sequence[str], timeout_seconds: int) -> list[BatchFailure]:
        """Hide messages for `timeout_seconds` from now (0 hands them back at once); returns refusals."""
        ...
