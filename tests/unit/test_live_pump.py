"""The local player of the publisher's stream mapping (scripts/live_pump.py)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from scripts.live_pump import Mapping, Pump, matches

PATTERN = {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"sk": {"S": ["JOB"]}}}}


def record(event: str, sk: str, seq: int) -> dict[str, Any]:
    keys = {"pk": {"S": "JOB#j"}, "sk": {"S": sk}}
    return {"eventName": event, "dynamodb": {"Keys": keys, "SequenceNumber": str(seq)}}


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (record("MODIFY", "JOB", 1), True),
        (record("INSERT", "JOB", 1), True),
        (record("REMOVE", "JOB", 1), False),
        (record("MODIFY", "TASK#t00000001", 1), False),
        ({"eventName": "MODIFY"}, False),
    ],
)
def test_the_mappings_filter_is_applied_as_aws_does(candidate: dict[str, Any], expected: bool) -> None:
    assert matches(candidate, PATTERN) is expected


def test_filter_operators_the_pump_cannot_play_are_refused() -> None:
    with pytest.raises(NotImplementedError):
        matches({"a": "x"}, {"a": [{"prefix": "x"}]})


class Streams:
    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "s0"}]}}

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["ShardIteratorType"] == "LATEST"
        return {"ShardIterator": "it0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        page = self.pages.pop(0) if self.pages else []
        return {"Records": page[:Limit], "NextShardIterator": ShardIterator + "+"}


class Lambda:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.batches: list[list[dict[str, Any]]] = []

    def invoke(self, FunctionName: str, Payload: str) -> dict[str, Any]:
        self.batches.append(json.loads(Payload)["Records"])
        if self.failures:
            self.failures -= 1
            return {"FunctionError": "Unhandled", "Payload": io.BytesIO(b'{"errorMessage": "boom"}')}
        return {"Payload": io.BytesIO(b"{}")}


def test_each_poll_hands_the_matching_records_to_the_function_in_one_batch() -> None:
    mapping = Mapping("u", "publisher", "arn:stream", batch_size=1000, retries=2, patterns=[PATTERN])
    lam = Lambda()
    pump = Pump(mapping, Streams([[record("MODIFY", "JOB", 1), record("MODIFY", "TASK#t1", 2),
                                   record("MODIFY", "JOB", 3)], []]), lam)
    pump.start()
    assert pump.poll_once() == 2
    assert pump.poll_once() == 0
    assert [[r["dynamodb"]["SequenceNumber"] for r in b] for b in lam.batches] == [["1", "3"]]
    assert lam.batches[0][0]["eventSourceARN"] == "arn:stream"
    assert pump.iterators == {"s0": "it0++"}


def test_a_failing_batch_is_retried_as_the_mapping_says_then_skipped() -> None:
    mapping = Mapping("u", "publisher", "arn:stream", batch_size=10, retries=2, patterns=[])
    lam = Lambda(failures=5)
    pump = Pump(mapping, Streams([[record("MODIFY", "JOB", 1)]]), lam)
    pump.start()
    pump.poll_once()
    assert len(lam.batches) == 3
