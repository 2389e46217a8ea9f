"""SqsConsumer against moto: receive counts, caps, and the batch calls behind delete and visibility."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tasklane.aws.sqs_consumer import SqsConsumer


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


@pytest.fixture
def queue_url(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName="tasklane-long")["QueueUrl"])


def send(sqs: Any, queue_url: str, count: int) -> None:
    for start in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, min(count, start + 10))]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def count_calls(sqs: Any, operation: str) -> list[int]:
    """Entries per call of `operation`, as sent."""
    calls: list[int] = []
    sqs.meta.events.register(
        f"provide-client-params.sqs.{operation}", lambda params, **_: calls.append(len(params["Entries"]))
    )
    return calls


def receive_all(consumer: SqsConsumer, limit: int = 50) -> list[Any]:
    received: list[Any] = []
    while batch := consumer.receive(10, wait_seconds=0, visibility_seconds=60):
        received += batch
        assert len(received) <= limit
    return received


def test_receive_maps_messages_to_deliveries_with_the_receive_count(sqs: Any, queue_url: str) -> None:
    consumer = SqsConsumer(queue_url, sqs)
    send(sqs, queue_url, 1)

    first = consumer.receive(1, wait_seconds=0, visibility_seconds=0)
    again = consumer.receive(1, wait_seconds=0, visibility_seconds=60)

    assert [(d.body, d.attempt) for d in first + again] == [("m0", 1), ("m0", 2)]
    assert first[0].message_id == again[0].message_id
    assert first[0].receipt_handle != again[0].receipt_handle


def test_receive_asks_for_at_most_ten(sqs: Any, queue_url: str) -> None:
    consumer = SqsConsumer(queue_url, sqs)
    send(sqs, queue_url, 15)
    asked: list[int] = []
    sqs.meta.events.register(
        "provide-client-params.sqs.ReceiveMessage", lambda params, **_: asked.append(params["MaxNumberOfMessages"])
    )

    got = consumer.receive(50, wait_seconds=0, visibility_seconds=60)

    assert asked == [10]
    assert 1 <= len(got) <= 10


def test_delete_goes_out_in_batches_of_ten(sqs: Any, queue_url: str) -> None:
    # Given 23 received messages
    consumer = SqsConsumer(queue_url, sqs)
    send(sqs, queue_url, 23)
    handles = [d.receipt_handle for d in receive_all(consumer)]
    assert len(handles) == 23
    calls = count_calls(sqs, "DeleteMessageBatch")

    # When they are deleted together
    failures = consumer.delete(handles)

    # Then three DeleteMessageBatch calls remove them all
    assert (failures, calls) == ([], [10, 10, 3])
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_visibility_zero_hands_messages_back_in_batches(sqs: Any, queue_url: str) -> None:
    # Given 12 received messages, hidden for a minute
    consumer = SqsConsumer(queue_url, sqs)
    send(sqs, queue_url, 12)
    handles = [d.receipt_handle for d in receive_all(consumer)]
    assert consumer.receive(10, wait_seconds=0, visibility_seconds=60) == []
    calls = count_calls(sqs, "ChangeMessageVisibilityBatch")

    # When they are handed back
    failures = consumer.change_visibility(handles, 0)

    # Then they can be received again at once, each a second time
    assert (failures, calls) == ([], [10, 2])
    again = receive_all(consumer)
    assert sorted(d.body for d in again) == sorted(f"m{i}" for i in range(12))
    assert {d.attempt for d in again} == {2}


def test_refused_entries_come_back_as_failures(sqs: Any, queue_url: str) -> None:
    consumer = SqsConsumer(queue_url, sqs)
    send(sqs, queue_url, 1)
    [good] = consumer.receive(1, wait_seconds=0, visibility_seconds=60)

    failures = consumer.change_visibility([good.receipt_handle, "not-a-receipt-handle"], 120)

    assert [f.receipt_handle for f in failures] == ["not-a-receipt-handle"]
    assert failures[0].code


class FlakySqs:
    """Fails one entry on SQS's side once, the way a batch call can partly fail."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append([e["ReceiptHandle"] for e in Entries])
        if len(self.calls) == 1:
            return {"Failed": [{"Id": Entries[1]["Id"], "SenderFault": False, "Code": "InternalError"}]}
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def test_entries_failed_by_sqs_are_retried_alone() -> None:
    client = FlakySqs()

    failures = SqsConsumer("https://queue", client).delete(["a", "b", "c"])

    assert failures == []
    assert client.calls == [["a", "b", "c"], ["b"]]
