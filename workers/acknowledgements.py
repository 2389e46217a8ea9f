"""Acknowledging what the worker received: a message is deleted once every task it carries is accounted for,
handed back at once when the worker lets it go, and otherwise left for SQS to redeliver.

Accounted for: its final outcome committed, nothing to record (a duplicate delivery, a stale outcome, an
abandoned attempt), or sent on as a message of its own (a bundled task's retry, or one that waited too long
for a free slot). A single task's retry keeps its message, hidden by the runner for the backoff delay. A body
that is not a task, or an attempt that failed for the worker's own reasons, leaves its message alone: SQS
redelivers it after the visibility timeout and its redrive policy dead-letters it in the end.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from tasklane.consumer import QueueConsumer
from tasklane.deliveries import Delivery
from workers.heartbeat import Heartbeat
from workers.metrics import Counter, Metrics
from workers.units import End, Finished, Held

log = logging.getLogger(__name__)


class Acknowledgements:
    def __init__(self, consumer: QueueConsumer, heartbeat: Heartbeat, metrics: Metrics) -> None:
        self._consumer = consumer
        self._heartbeat = heartbeat
        self._metrics = metrics

    def hold(self, held: Held, received_at: float) -> Held:
        """Keep the message hidden while its tasks run; its visibility timer started when its receive did."""
        self._heartbeat.track(held.delivery.receipt_handle, received_at)
        return held

    def account(self, finished: list[Finished], acknowledged: list[Finished]) -> None:
        """Count each finished task against its message; delete the messages whose every task is acknowledged."""
        safe = {id(f) for f in acknowledged}
        closed: list[Held] = []
        for item in finished:
            held = item.unit.held
            if id(item) not in safe:
                held.keep = True
                if item.end is End.ERROR:
                    log.warning("message left for redelivery", extra={
                        "message_id": held.delivery.message_id, "task_id": item.unit.message.task_id})
            held.open -= 1
            if held.open == 0:
                closed.append(held)
        for held in closed:
            self._heartbeat.release(held.delivery.receipt_handle)
        self.delete([held.delivery for held in closed if not held.keep])

    def delete(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        try:
            failures = self._consumer.delete([d.receipt_handle for d in deliveries])
        except Exception:
            # Redelivered later, found final by its claim or its commit, and deleted then.
            log.exception("could not delete %d messages", len(deliveries))
            return
        for failure in failures:
            log.warning("delete refused", extra={"code": failure.code, "reason": failure.message})

    def hand_back(self, deliveries: Iterable[Delivery]) -> None:
        """Make messages visible again at once, for another worker to take."""
        handles = [d.receipt_handle for d in deliveries]
        if not handles:
            return
        for handle in handles:
            self._heartbeat.release(handle)
        try:
            failures = self._consumer.change_visibility(handles, 0)
        except Exception:
            log.exception("could not hand back %d messages; they return after their visibility timeout", len(handles))
            return
        log.info("handed back messages", extra={"count": len(handles) - len(failures)})

    def left_for_redrive(self, delivery: Delivery, detail: str) -> None:
        """A body that is not a task never parses: back at once, so its receives run out and it is dead-lettered."""
        self._metrics.inc(Counter.INVALID)
        self.hand_back([delivery])
        log.warning("message left for redelivery",
                    extra={"message_id": delivery.message_id, "reason": "invalid", "detail": detail})
