"""Dollars per million tasks from counted requests and AWS's public us-east-1 list prices (pure functions).

Compute (Lambda GB-seconds, EKS nodes) is left out on purpose: the target is about what the orchestration
itself costs. Free tiers are ignored (they are per account per month, not per task).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from localaws.dynamodb_units import item_size as item_bytes
from localaws.dynamodb_units import write_units

PRICES_AS_OF = "2026-11-28"


@dataclass(frozen=True)
class Price:
    dollars: float
    per: float  # units the price is for
    unit: str
    source: str

    @property
    def per_unit(self) -> float:
        return self.dollars / self.per


PRICES: dict[str, Price] = {
    "sqs_requests": Price(0.40, 1e6, "SQS standard request (each 64 KB chunk), first 100 billion a month",
                          "aws.amazon.com/sqs/pricing"),
    "ddb_write_units": Price(0.625, 1e6, "DynamoDB on-demand write request unit (since 2024-11-01)",
                             "aws.amazon.com/dynamodb/pricing/on-demand"),
    "ddb_read_units": Price(0.125, 1e6, "DynamoDB on-demand read request unit (since 2024-11-01)",
                            "aws.amazon.com/dynamodb/pricing/on-demand"),
    "sfn_transitions": Price(0.025, 1e3, "Step Functions standard state transition",
                             "aws.amazon.com/step-functions/pricing"),
    "lambda_requests": Price(0.20, 1e6, "Lambda request (invocation)", "aws.amazon.com/lambda/pricing"),
    "apigw_requests": Price(3.50, 1e6, "API Gateway REST API call, first 333 million a month",
                            "aws.amazon.com/api-gateway/pricing"),
    "s3_put_requests": Price(0.005, 1e3, "S3 Standard PUT, COPY, POST, LIST request", "aws.amazon.com/s3/pricing"),
    "s3_get_requests": Price(0.0004, 1e3, "S3 Standard GET, SELECT and other requests", "aws.amazon.com/s3/pricing"),
}


@dataclass(frozen=True)
class Usage:
    """Billable units for one job (or one batch of work) of `tasks` tasks."""

    tasks: int
    sqs_requests: float = 0
    ddb_write_units: float = 0
    ddb_read_units: float = 0
    sfn_transitions: float = 0
    lambda_requests: float = 0
    apigw_requests: float = 0
    s3_put_requests: float = 0
    s3_get_requests: float = 0

    def units(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if k != "tasks"}


def dollars_per_million_tasks(usage: Usage, prices: Mapping[str, Price] = PRICES) -> dict[str, float]:
    """Each billable dimension's dollars per million tasks, and their `total`."""
    if usage.tasks <= 0:
        raise ValueError("usage must cover at least one task")
    scale = 1e6 / usage.tasks
    lines = {name: units * prices[name].per_unit * scale for name, units in usage.units().items()}
    return {**lines, "total": sum(lines.values())}


def with_map_per_task(usage: Usage, transitions_per_task: float = 1.0) -> Usage:
    """The same work under a design that runs one Step Functions Map iteration per task.

    One Task state per iteration is at least one transition per task; 1 is therefore a lower bound.
    """
    return replace(usage, sfn_transitions=usage.sfn_transitions + transitions_per_task * usage.tasks)


# --- from counted requests ------------------------------------------------------------------------------

S3_PUT_CLASS = {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2", "ListBuckets",
                "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}
S3_GET_CLASS = {"GetObject", "HeadObject", "GetObjectTagging"}


def usage_from_requests(
    tasks: int,
    requests: Mapping[str, float],
    *,
    ddb_write_units: float = 0,
    ddb_read_units: float = 0,
    sfn_transitions: float = 0,
    lambda_requests: float = 0,
    apigw_requests: float = 0,
) -> Usage:
    """Usage from request counts keyed `service:Operation` plus the units that are not requests."""
    sqs = sum(n for key, n in requests.items() if key.startswith("sqs:"))
    s3_put = sum(n for key, n in requests.items() if key.startswith("s3:") and key[3:] in S3_PUT_CLASS)
    s3_get = sum(n for key, n in requests.items() if key.startswith("s3:") and key[3:] in S3_GET_CLASS)
    return Usage(
        tasks=tasks, sqs_requests=sqs, ddb_write_units=ddb_write_units, ddb_read_units=ddb_read_units,
        sfn_transitions=sfn_transitions, lambda_requests=lambda_requests, apigw_requests=apigw_requests,
        s3_put_requests=s3_put, s3_get_requests=s3_get,
    )


# --- DynamoDB capacity units from a request's parameters ------------------------------------------------

UPDATED_ITEM_BYTES = 1024  # an update's resulting item size is not in the request: assumed <= 1 KB


def dynamodb_units(
    operation: str, params: Mapping[str, Any], indexed_sort_keys: Iterable[str] = ("JOB",)
) -> tuple[float, float]:
    """(write units, read units) that one DynamoDB request consumes, from its parameters.

    Writes: 1 unit per KB (2 in a transaction); a write to an item whose sort key is in `indexed_sort_keys`
    (items carrying the keys of a global secondary index projecting ALL) also writes the index: +1 unit.
    Reads: a strongly consistent read is 1 unit per 4 KB (eventually consistent: half; transactional: 2);
    items are assumed <= 4 KB, and a Query or Scan page counts as one item.
    """
    indexed = set(indexed_sort_keys)

    def index_units(key_or_item: Mapping[str, Any]) -> int:
        sort_key = key_or_item.get("sk", {})
        return 1 if isinstance(sort_key, Mapping) and sort_key.get("S") in indexed else 0

    def write(kind: str, body: Mapping[str, Any], factor: int) -> float:
        if kind == "Put":
            item = body.get("Item", {})
            return factor * write_units(item_bytes(item)) + index_units(item)
        if kind in ("Update", "Delete"):
            key = body.get("Key", {})
            return factor * write_units(UPDATED_ITEM_BYTES) + index_units(key)
        if kind == "ConditionCheck":
            return factor * 1.0
        return 0.0

    read_unit = 1.0 if params.get("ConsistentRead") else 0.5
    if operation == "PutItem":
        return write("Put", params, 1), 0.0
    if operation in ("UpdateItem", "DeleteItem"):
        return write(operation.removesuffix("Item"), params, 1), 0.0
    if operation == "BatchWriteItem":
        units = 0.0
        for requests in params.get("RequestItems", {}).values():
            for request in requests:
                if "PutRequest" in request:
                    units += write("Put", request["PutRequest"], 1)
                elif "DeleteRequest" in request:
                    units += write("Delete", request["DeleteRequest"], 1)
        return units, 0.0
    if operation == "TransactWriteItems":
        units = 0.0
        for entry in params.get("TransactItems", []):
            for kind, body in entry.items():
                units += write(kind, body, 2)
        return units, 0.0
    if operation in ("GetItem", "Query", "Scan"):
        return 0.0, read_unit
    if operation == "BatchGetItem":
        keys = sum(len(table.get("Keys", [])) for table in params.get("RequestItems", {}).values())
        return 0.0, 0.5 * keys
    if operation == "TransactGetItems":
        return 0.0, 2.0 * len(params.get("TransactItems", []))
    return 0.0, 0.0


# --- the scenario: our designs and Celery's, from the requests scenario's counts ---------------------------


def usage_of_job(job: Mapping[str, Any]) -> Usage:
    """A measured job's billable units (bench.requests' figures for one job)."""
    requests = {k: v for k, v in job["requests"].items() if not k.startswith(("lambda:", "apigateway:"))}
    return usage_from_requests(
        job["tasks"], requests, ddb_write_units=job["ddb_write_units"], ddb_read_units=job["ddb_read_units"],
        sfn_transitions=job["sfn_transitions"], lambda_requests=job["lambda_requests"],
        apigw_requests=job["requests"].get("apigateway:POST /jobs", 0),
    )


def designs(jobs: list[Mapping[str, Any]], celery: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Dollars per million tasks for each runtime's largest measured job, the Map-per-task variant, Celery."""
    out: dict[str, dict[str, Any]] = {}
    for runtime in sorted({str(j["runtime"]) for j in jobs}):
        job = max((j for j in jobs if j["runtime"] == runtime), key=lambda j: int(j["tasks"]))
        usage = usage_of_job(job)
        out[f"tasklane ({runtime})"] = {"job_tasks": usage.tasks, **dollars_per_million_tasks(usage)}
        out[f"map per task ({runtime})"] = {"job_tasks": usage.tasks,
                                            **dollars_per_million_tasks(with_map_per_task(usage))}
    if celery:
        usage = Usage(tasks=int(celery["tasks"]), sqs_requests=float(celery["requests_total"]))
        out["celery on sqs"] = {"job_tasks": usage.tasks, **dollars_per_million_tasks(usage)}
    return out
