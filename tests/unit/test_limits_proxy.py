"""The DynamoDB limits model (localaws/): billing units, the per-key throttle, conflicts and error shapes.

botocore is the client, the limits proxy runs on loopback in front of a small in-memory DynamoDB
(fake_dynamodb.py), and the model's clock is the test's, so a second passes when the test says so.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from fake_dynamodb import ARN, TABLE, FakeDynamo

from localaws.dynamodb_limits import DynamoLimits, units_per_task
from localaws.dynamodb_units import item_size, number_size, read_units, write_units
from localaws.limits_proxy import LimitsProxy

KIB = 1024


_connect = socket.socket.connect  # the real one, taken at import, before the unit-test guard replaces it


@pytest.fixture
def loopback(offline_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The proxy and its fake upstream are HTTP servers on 127.0.0.1: loopback only, nothing further."""
    guarded = socket.socket.connect

    def loopback_only(sock: socket.socket, address: Any) -> Any:
        if sock.family == socket.AF_INET and address[0] == "127.0.0.1":
            return _connect(sock, address)
        return guarded(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(loopback: None) -> Iterator[FakeDynamo]:
    with FakeDynamo() as running:
        yield running


@pytest.fixture
def proxy(fake: FakeDynamo, clock: Clock) -> Iterator[LimitsProxy]:
    # Small limits, so a handful of requests reach them.
    with LimitsProxy(fake.url, model=DynamoLimits(write_units_per_key=10, read_units_per_key=30, clock=clock)) as p:
        yield p


@pytest.fixture
def ddb(proxy: LimitsProxy) -> Any:
    return boto3.client("dynamodb", endpoint_url=proxy.url, region_name="us-east-1",
                        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


def item(pk: str, sk: str, size: int = 0, **more: Any) -> dict[str, Any]:
    """An item of exactly `size` bytes as DynamoDB sizes it (when `size` > its key)."""
    base = {"pk": {"S": pk}, "sk": {"S": sk}, **more}
    pad = size - item_size(base) - len("pad")
    return {**base, "pad": {"S": "x" * pad}} if pad > 0 else base


def stats(proxy: LimitsProxy) -> dict[str, Any]:
    with urllib.request.urlopen(f"{proxy.url}/_limits/stats?top=5", timeout=5) as response:
        return dict(json.loads(response.read()))


def key_units(snapshot: dict[str, Any], key: str, kind: str = "write_units") -> float:
    rows = snapshot["busiest_write_keys"] + snapshot["busiest_read_keys"]
    return next((float(r[kind]) for r in rows if r["key"] == key), 0.0)


# --- units ---------------------------------------------------------------------------------------------


def test_item_sizes_follow_the_developer_guide() -> None:
    assert item_size({"name": {"S": "héllo"}}) == 4 + 6
    assert number_size("12345") == 3 + 1 and number_size("0.0012300") == 2 + 1  # zeros trimmed
    assert item_size({"flag": {"BOOL": True}, "n": {"NULL": True}}) == 4 + 1 + 1 + 1
    assert item_size({"b": {"B": "AAEC"}}) == 1 + 3  # raw bytes, not base64
    # A map: 3 bytes, plus each element's name, value and 1 byte.
    assert item_size({"m": {"M": {"a": {"S": "xy"}}}}) == 1 + 3 + (1 + 2 + 1)
    assert item_size({"l": {"L": [{"S": "xy"}, {"N": "7"}]}}) == 1 + 3 + (2 + 1) + (2 + 1)


def test_units_round_up_per_kib_and_4_kib_and_double_in_transactions() -> None:
    assert write_units(1) == 1 and write_units(KIB) == 1 and write_units(KIB + 1) == 2
    assert write_units(KIB + 1, transactional=True) == 4
    assert read_units(4 * KIB, consistent=True) == 1 and read_units(4 * KIB + 1, consistent=True) == 2
    assert read_units(4 * KIB) == 0.5  # eventually consistent: half
    assert read_units(100, transactional=True) == 2


# --- billing through the proxy ---------------------------------------------------------------------------


def test_an_update_is_billed_on_the_whole_item_after_it_and_the_client_sees_what_it_asked_for(
    ddb: Any, proxy: LimitsProxy, fake: FakeDynamo
) -> None:
    ddb.put_item(TableName=TABLE, Item=item("JOB#1", "JOB", size=3 * KIB))  # 3 units
    answer = ddb.update_item(TableName=TABLE, Key={"pk": {"S": "JOB#1"}, "sk": {"S": "JOB"}},
                             UpdateExpression="SET done = :d", ExpressionAttributeValues={":d": {"N": "1"}})
    assert "Attributes" not in answer  # the client asked for nothing
    sent = [body for op, body in fake.received if op == "UpdateItem"]
    assert sent[0]["ReturnValues"] == "ALL_NEW"  # the model asked, to learn the item's size
    # 3 KiB + "done"(4) + a 1-digit number(2): just over 3 KiB, so 4 units; 7 in all on the key.
    assert key_units(stats(proxy), "jobs:JOB#1") == 3 + 4
    kept = ddb.update_item(TableName=TABLE, Key={"pk": {"S": "JOB#1"}, "sk": {"S": "JOB"}},
                           UpdateExpression="SET done = :d", ExpressionAttributeValues={":d": {"N": "2"}},
                           ReturnValues="ALL_NEW")
    assert kept["Attributes"]["done"] == {"N": "2"}  # asked for, so kept


def test_a_transaction_bills_double_on_each_item_size(ddb: Any, proxy: LimitsProxy, fake: FakeDynamo) -> None:
    ddb.put_item(TableName=TABLE, Item=item("JOB#2", "JOB", size=2 * KIB))  # 2 units
    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "JOB#2"}, "sk": {"S": "JOB"}},
                    "UpdateExpression": "SET n = :n", "ExpressionAttributeValues": {":n": {"N": "1"}}}},
        {"Put": {"TableName": TABLE, "Item": item("TASK#2", "T1", size=500)}},
    ])
    snapshot = stats(proxy)
    assert key_units(snapshot, "jobs:JOB#2") == 2 + 2 * 3  # 2 KiB and the value written: 3 units, doubled
    assert key_units(snapshot, "jobs:TASK#2") == 2 * 1
    assert snapshot["write_units"] == 2 + 6 + 2
    assert "BatchGetItem" not in fake.operations()  # every item's size was known


def test_an_item_the_model_has_not_seen_is_read_back_once_to_size_a_transaction(
    ddb: Any, proxy: LimitsProxy, fake: FakeDynamo, clock: Clock
) -> None:
    fake.items[("OLD", "JOB")] = item("OLD", "JOB", size=5 * KIB)  # written before the proxy was there
    for n in range(2):
        clock.now += 2.0  # 12 units each, at 10 a second in these tests
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "OLD"}, "sk": {"S": "JOB"}},
                        "UpdateExpression": "SET n = :n", "ExpressionAttributeValues": {":n": {"N": str(n)}}}}])
    assert fake.operations().count("BatchGetItem") == 1
    assert key_units(stats(proxy), "jobs:OLD") == 2 * (2 * 6)  # 5 KiB + "n": 6 units, doubled, twice


def test_queries_bill_the_summed_item_sizes_per_4_kib_and_half_when_eventually_consistent(
    ddb: Any, proxy: LimitsProxy
) -> None:
    for n in range(3):
        ddb.put_item(TableName=TABLE, Item=item("JOB#3", f"T{n}", size=3 * KIB))
    found = ddb.query(TableName=TABLE, KeyConditionExpression="pk = :pk",
                      ExpressionAttributeValues={":pk": {"S": "JOB#3"}})
    assert found["Count"] == 3
    assert key_units(stats(proxy), "jobs:JOB#3", "read_units") == 3 / 2  # 9 KiB: 3 units, halved


# --- throttling ----------------------------------------------------------------------------------------


def test_a_key_past_its_write_units_is_throttled_as_dynamodb_does_and_recovers_a_second_later(
    ddb: Any, proxy: LimitsProxy, clock: Clock
) -> None:
    for n in range(10):  # the limit is 10 units/s in this test
        ddb.put_item(TableName=TABLE, Item=item("HOT", f"T{n}", size=100))
    with pytest.raises(ClientError) as refused:
        ddb.put_item(TableName=TABLE, Item=item("HOT", "T10", size=100))
    response = refused.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert "provisioned throughput for the table was exceeded" in response["Error"]["Message"]
    assert response["ThrottlingReasons"] == [{"reason": "TableWriteKeyRangeThroughputExceeded", "resource": ARN}]
    ddb.put_item(TableName=TABLE, Item=item("COLD", "T0", size=100))  # another key is not affected
    clock.now += 1.0
    ddb.put_item(TableName=TABLE, Item=item("HOT", "T10", size=100))  # the bucket refilled
    snapshot = stats(proxy)
    assert snapshot["throttled"] == {"PutItem": 1} and snapshot["throttled_total"] == 1
    assert snapshot["busiest_write_keys"][0] == {"key": "jobs:HOT", "write_units": 11.0, "read_units": 0.0,
                                                 "throttled": 1}


def test_a_big_write_leaves_its_key_in_debt_until_the_units_are_paid_back(
    ddb: Any, clock: Clock
) -> None:
    ddb.put_item(TableName=TABLE, Item=item("DEBT", "A", size=1))
    ddb.update_item(TableName=TABLE, Key={"pk": {"S": "DEBT"}, "sk": {"S": "A"}}, UpdateExpression="SET big = :b",
                    ExpressionAttributeValues={":b": {"S": "x" * (20 * KIB)}})  # 21 units, 10/s
    clock.now += 1.0  # 9 + 10 - 21 < 1: still in debt
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        ddb.put_item(TableName=TABLE, Item=item("DEBT", "B", size=1))
    clock.now += 1.0
    ddb.put_item(TableName=TABLE, Item=item("DEBT", "B", size=1))


def test_a_batch_write_hands_back_the_throttled_entries_as_unprocessed(ddb: Any, proxy: LimitsProxy) -> None:
    entries = [{"PutRequest": {"Item": item("BATCH", f"T{n}", size=KIB)}} for n in range(12)]
    answer = ddb.batch_write_item(RequestItems={TABLE: entries})
    left = answer["UnprocessedItems"][TABLE]
    assert len(left) == 2 and left == entries[10:]
    assert key_units(stats(proxy), "jobs:BATCH") == 10


def test_a_transaction_on_a_throttled_key_is_cancelled_with_a_throttling_reason(ddb: Any) -> None:
    for n in range(10):
        ddb.put_item(TableName=TABLE, Item=item("HOT2", f"T{n}", size=100))
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": item("OK", "A")}},
            {"Put": {"TableName": TABLE, "Item": item("HOT2", "T99")}},
        ])
    response = refused.value.response
    assert response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in response["CancellationReasons"]] == ["None", "ThrottlingError"]


# --- conflicts -----------------------------------------------------------------------------------------


@contextmanager
def held_transaction(ddb: Any, fake: FakeDynamo, pk: str) -> Iterator[None]:
    """A transaction on (pk, JOB) that the fake upstream holds in flight while the block runs."""
    fake.release.clear()
    fake.holding.clear()
    fake.hold.set()
    first = threading.Thread(target=ddb.transact_write_items, kwargs={"TransactItems": [
        {"Update": {"TableName": TABLE, "Key": {"pk": {"S": pk}, "sk": {"S": "JOB"}},
                    "UpdateExpression": "SET n = :n", "ExpressionAttributeValues": {":n": {"N": "1"}}}}]})
    first.start()
    try:
        assert fake.holding.wait(5), "the first transaction did not reach the upstream"
        yield
    finally:
        fake.release.set()
        first.join(5)


def test_a_transaction_touching_an_item_another_transaction_is_writing_is_cancelled_with_transaction_conflict(
    ddb: Any, proxy: LimitsProxy, fake: FakeDynamo
) -> None:
    ddb.put_item(TableName=TABLE, Item=item("JOB#9", "JOB"))
    with held_transaction(ddb, fake, "JOB#9"), pytest.raises(ClientError) as refused:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": item("TASK#9", "T1")}},
            {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "JOB#9"}, "sk": {"S": "JOB"}},
                        "UpdateExpression": "SET n = :n", "ExpressionAttributeValues": {":n": {"N": "2"}}}},
        ])
    with held_transaction(ddb, fake, "JOB#9b"):
        # Requests overlap: a transaction on other items goes through while one is held.
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": item("TASK#9", "T2")}}])
    response = refused.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "TransactionCanceledException"
    assert response["Error"]["Message"] == ("Transaction cancelled, please refer cancellation reasons for specific "
                                            "reasons [None, TransactionConflict]")
    assert response["CancellationReasons"] == [
        {"Code": "None"}, {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
    assert ("TASK#9", "T1") not in fake.items  # nothing of the cancelled transaction was applied
    assert ("TASK#9", "T2") in fake.items
    assert fake.items[("JOB#9", "JOB")]["n"] == {"N": "1"}
    assert stats(proxy)["cancelled"] == {"TransactionConflict": 1}


def test_an_item_counts_as_being_written_only_for_a_transactions_latency_in_dynamodb(
    ddb: Any, proxy: LimitsProxy, fake: FakeDynamo, clock: Clock
) -> None:
    ddb.put_item(TableName=TABLE, Item=item("JOB#14", "JOB"))
    with held_transaction(ddb, fake, "JOB#14"):
        clock.now += 0.05  # the emulator still holds the first; DynamoDB would have committed it by now
        ddb.update_item(TableName=TABLE, Key={"pk": {"S": "JOB#14"}, "sk": {"S": "JOB"}},
                        UpdateExpression="SET x = :x", ExpressionAttributeValues={":x": {"N": "1"}})
    assert fake.items[("JOB#14", "JOB")]["x"] == {"N": "1"}
    assert stats(proxy)["rejected_writes"] == 0


def test_a_single_write_to_an_item_in_a_transaction_is_rejected_and_a_transactional_read_cancelled(
    ddb: Any, proxy: LimitsProxy, fake: FakeDynamo
) -> None:
    ddb.put_item(TableName=TABLE, Item=item("JOB#10", "JOB"))
    with held_transaction(ddb, fake, "JOB#10"):
        with pytest.raises(ClientError) as rejected:
            ddb.update_item(TableName=TABLE, Key={"pk": {"S": "JOB#10"}, "sk": {"S": "JOB"}},
                            UpdateExpression="SET x = :x", ExpressionAttributeValues={":x": {"N": "1"}})
        with pytest.raises(ClientError) as cancelled:
            ddb.transact_get_items(TransactItems=[
                {"Get": {"TableName": TABLE, "Key": {"pk": {"S": "JOB#10"}, "sk": {"S": "JOB"}}}}])
    assert rejected.value.response["Error"]["Code"] == "TransactionConflictException"
    assert cancelled.value.response["CancellationReasons"][0]["Code"] == "TransactionConflict"
    assert "x" not in fake.items[("JOB#10", "JOB")]
    snapshot = stats(proxy)
    assert snapshot["rejected_writes"] == 1 and snapshot["cancelled"] == {"TransactionConflict": 1}


# --- the proxy's own endpoints and everything else -------------------------------------------------------


def test_stats_reset_and_other_protocols_pass_through(ddb: Any, proxy: LimitsProxy, fake: FakeDynamo) -> None:
    ddb.put_item(TableName=TABLE, Item=item("JOB#11", "JOB", size=2 * KIB))
    snapshot = stats(proxy)
    assert snapshot["requests"]["PutItem"] == 1 and snapshot["keys"] == 1
    assert units_per_task(snapshot, tasks=4) == {"write_units_per_task": 0.5, "busiest_key_write_units_per_task": 0.5}
    reset = urllib.request.Request(f"{proxy.url}/_limits/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=5):
        pass
    assert stats(proxy)["write_units"] == 0 and stats(proxy)["keys"] == 0
    # DynamoDB Streams (another X-Amz-Target) is relayed as it came.
    streams = boto3.client("dynamodbstreams", endpoint_url=proxy.url, region_name="us-east-1")
    assert streams.list_streams()["Streams"] == []
    assert fake.operations()[-1] == "ListStreams"


def test_a_batch_read_projected_without_its_keys_is_billed_to_the_keys_asked_for(ddb: Any, proxy: LimitsProxy) -> None:
    ddb.put_item(TableName=TABLE, Item=item("JOB#12", "A", size=100))
    ddb.put_item(TableName=TABLE, Item=item("JOB#13", "A", size=100))
    keys = [{"pk": {"S": p}, "sk": {"S": "A"}} for p in ("JOB#12", "JOB#13")]
    found = ddb.batch_get_item(RequestItems={TABLE: {"Keys": keys, "ProjectionExpression": "pad"}})
    assert len(found["Responses"][TABLE]) == 2
    snapshot = stats(proxy)
    assert snapshot["model_errors"] == {}
    assert key_units(snapshot, "jobs:JOB#12", "read_units") == key_units(snapshot, "jobs:JOB#13", "read_units") == 0.5


def test_a_request_the_model_cannot_read_is_counted_and_reaches_the_emulator_once() -> None:
    sent: list[str] = []

    def forward(operation: str, request: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        sent.append(operation)
        if operation == "DescribeTable":
            return 200, {}, FakeDynamo().answer("DynamoDB_20120810.DescribeTable", {})[1]
        return 200, {}, {"Attributes": {"pk": {"S": "J"}, "odd": {"X": "?"}}}  # a type the model does not know

    model = DynamoLimits()
    status, _, body = model.handle("UpdateItem", {"TableName": TABLE, "Key": {"pk": {"S": "J"}, "sk": {"S": "JOB"}},
                                                  "UpdateExpression": "SET a = :a"}, forward)
    assert status == 200 and "Attributes" not in body  # the image the model asked for is not passed on
    assert sent.count("UpdateItem") == 1  # applied once: not sent again without the model
    assert list(model.snapshot()["model_errors"].values()) == [1]
