"""The optional request counter the benchmarks read: off by default, per-operation counts in a file when on."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from tasklane.aws.request_counting import RequestCounter, count_requests, process_counter


def test_counting_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKLANE_REQUEST_COUNTS_DIR", raising=False)
    process_counter.cache_clear()
    client = boto3.client("sqs", region_name="us-east-1")
    assert count_requests(client) is client
    assert process_counter() is None


def test_each_attempt_is_counted_by_service_and_operation(tmp_path: Path) -> None:
    counter = RequestCounter(tmp_path / "1.json")
    counter.watch(boto3.client("sqs", region_name="us-east-1"))
    for _ in range(2):
        counter._on_send(event_name="before-send.sqs.SendMessageBatch")
    counter._on_send(event_name="before-send.dynamodb.TransactWriteItems")
    assert counter.snapshot() == {"sqs:SendMessageBatch": 2, "dynamodb:TransactWriteItems": 1}
    written = json.loads((tmp_path / "1.json").read_text())
    assert written["counts"] == {"dynamodb:TransactWriteItems": 1, "sqs:SendMessageBatch": 2}
