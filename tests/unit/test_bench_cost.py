"""The benchmark harness's pure math: percentiles, DynamoDB capacity units, dollars per million tasks."""

from __future__ import annotations

import pytest

from bench.cost import (
    PRICES,
    Usage,
    designs,
    dollars_per_million_tasks,
    dynamodb_units,
    item_bytes,
    usage_from_requests,
    with_map_per_task,
)
from bench.stats import median, percentile, rounded, summary


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert median([3.0, 1.0, 2.0]) == 2
    assert percentile([7.0], 95) == 7


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_and_rounding() -> None:
    figures = summary([1.0, 2.0, 3.0, 4.0])
    assert figures["n"] == 4 and figures["min"] == 1 and figures["max"] == 4 and figures["mean"] == 2.5
    assert rounded({"a": [123.456789, 0.000123456]}, 3) == {"a": [123.0, 0.000123]}


def test_dollars_per_million_tasks_from_units() -> None:
    # A million tasks sending 0.1 SQS request each: 100,000 requests at $0.40 per million.
    usage = Usage(tasks=1_000_000, sqs_requests=100_000, sfn_transitions=6)
    cost = dollars_per_million_tasks(usage)
    assert cost["sqs_requests"] == pytest.approx(0.04)
    assert cost["sfn_transitions"] == pytest.approx(6 * 0.025 / 1000)
    assert cost["total"] == pytest.approx(cost["sqs_requests"] + cost["sfn_transitions"])


def test_a_map_iteration_per_task_makes_transitions_grow_with_tasks() -> None:
    usage = Usage(tasks=10_000, sfn_transitions=6)
    mapped = with_map_per_task(usage)
    assert mapped.sfn_transitions == 10_006
    # $25 per million transitions: at least $25 per million tasks from the workflow alone.
    assert dollars_per_million_tasks(mapped)["sfn_transitions"] == pytest.approx(25.015)


def test_usage_from_requests_sorts_requests_into_billing_lines() -> None:
    usage = usage_from_requests(
        1000,
        {"sqs:SendMessageBatch": 100, "sqs:ReceiveMessage (event source mapping)": 100, "s3:PutObject": 1,
         "s3:GetObject": 1, "dynamodb:TransactWriteItems": 100, "states:StartExecution": 1},
        ddb_write_units=2300, lambda_requests=105, apigw_requests=1,
    )
    assert usage.sqs_requests == 200
    assert usage.s3_put_requests == 1 and usage.s3_get_requests == 1
    assert usage.ddb_write_units == 2300 and usage.lambda_requests == 105 and usage.apigw_requests == 1


def test_dynamodb_units_follow_the_capacity_rules() -> None:
    task = {"pk": {"S": "JOB#j"}, "sk": {"S": "TASK#t00000001"}, "status": {"S": "PENDING"}}
    assert item_bytes(task) == len("pk") + 5 + len("sk") + 14 + len("status") + 7
    job_update = {"Update": {"Key": {"pk": {"S": "JOB#j"}, "sk": {"S": "JOB"}}}}
    task_update = {"Update": {"Key": {"pk": {"S": "JOB#j"}, "sk": {"S": "TASK#t00000001"}}}}
    # A transaction: 2 units per item, plus the job item's index entry.
    assert dynamodb_units("TransactWriteItems", {"TransactItems": [task_update, task_update, job_update]}) == (7, 0)
    batch = {"RequestItems": {"t": [{"PutRequest": {"Item": task}}] * 25}}
    assert dynamodb_units("BatchWriteItem", batch) == (25, 0)
    big = {**task, "payload_json": {"S": "x" * 3000}}
    assert dynamodb_units("PutItem", {"Item": big}) == (3, 0)
    assert dynamodb_units("GetItem", {"ConsistentRead": True}) == (0, 1)
    assert dynamodb_units("GetItem", {}) == (0, 0.5)
    assert dynamodb_units("DescribeTable", {}) == (0, 0)


def test_designs_price_ours_the_map_variant_and_celery() -> None:
    job = {
        "runtime": "lambda", "tasks": 1000, "ddb_write_units": 3000.0, "ddb_read_units": 20.0,
        "sfn_transitions": 6, "lambda_requests": 105,
        "requests": {"sqs:SendMessageBatch": 100.0, "apigateway:POST /jobs": 1.0, "lambda:Invoke": 105.0},
    }
    table = designs([job], {"tasks": 1000, "requests_total": 2200})
    ours, mapped, celery = table["tasklane (lambda)"], table["map per task (lambda)"], table["celery on sqs"]
    assert ours["ddb_write_units"] == pytest.approx(3000 / 1000 * PRICES["ddb_write_units"].per_unit * 1e6)
    assert mapped["total"] - ours["total"] == pytest.approx(25.0)
    assert celery["total"] == pytest.approx(2.2 * 0.40)
