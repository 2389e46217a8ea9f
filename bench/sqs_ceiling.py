"""The ceiling: a bare loop that sends, receives and deletes N messages in batches of 10 on the same emulator.

One thread, no work per message: what one client of this emulator can move through one queue. Its queue is
the bench's own and is deleted afterwards. Beside it, how the rate of receiving and deleting depends on how
many messages wait in the queue (`by_depth`): the emulator scans its queue on every receive and delete.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench.common import Outcome, Target, aws_client

BATCH = 10
BODY = '{"job_id": "bench", "task_id": "t00000000", "type": "echo", "payload": {}}'


DEPTHS = (1_000, 10_000, 100_000)
DEPTH_ROUNDS = 20


def run(endpoint_url: str, messages: int, depths: tuple[int, ...] = DEPTHS) -> Outcome:
    sqs = aws_client("sqs", endpoint_url)
    queue_url = sqs.create_queue(QueueName=f"tasklane-bench-ceiling-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        started = time.perf_counter()
        _send(sqs, queue_url, messages)
        sent = time.perf_counter()
        received = _drain(sqs, queue_url, messages)
        drained = time.perf_counter()
    finally:
        sqs.delete_queue(QueueUrl=queue_url)
    total = drained - started
    data: dict[str, Any] = {
        "messages": messages,
        "received": received,
        "batch": BATCH,
        "send_seconds": sent - started,
        "drain_seconds": drained - sent,
        "seconds": total,
        "send_per_second": messages / (sent - started),
        "receive_delete_per_second": received / (drained - sent),
        "messages_per_second": messages / total,
        "requests_per_message": 3 / BATCH,
    }
    by_depth = {str(depth): _rate_at_depth(sqs, depth) for depth in depths}
    data["by_depth"] = by_depth
    rates = "/".join(f"{line['receive_delete_per_second']:,.0f}" for line in by_depth.values())
    depth_names = "/".join(f"{depth:,}" for depth in depths)
    reported = Target(f"bare SQS receive+delete with {depth_names} waiting", f"{rates} msg/s", "(reported)", None)
    return Outcome("sqs_ceiling", data, [reported])


def _rate_at_depth(sqs: Any, depth: int) -> dict[str, float]:
    """Messages received and deleted per second, in batches of 10, with `depth` messages in the queue."""
    queue_url = sqs.create_queue(QueueName=f"tasklane-bench-depth-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        _send(sqs, queue_url, depth)
        started = time.perf_counter()
        received = _drain(sqs, queue_url, min(depth, DEPTH_ROUNDS * BATCH))
        seconds = time.perf_counter() - started
    finally:
        sqs.delete_queue(QueueUrl=queue_url)
    return {"depth": depth, "received": received, "seconds": seconds, "receive_delete_per_second": received / seconds}


def _send(sqs: Any, queue_url: str, messages: int) -> None:
    for start in range(0, messages, BATCH):
        count = min(BATCH, messages - start)
        entries = [{"Id": str(i), "MessageBody": BODY} for i in range(count)]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def _drain(sqs: Any, queue_url: str, messages: int) -> int:
    received = 0
    empty_polls = 0
    while received < messages and empty_polls < 20:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=1,
                                    VisibilityTimeout=60).get("Messages", [])
        if not batch:
            empty_polls += 1
            continue
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
        ])
        received += len(batch)
    return received
