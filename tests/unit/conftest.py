"""Unit-test fixtures: fake AWS credentials, no network, moto-backed adapters and in-memory fakes.

Every test runs with AWS_ENDPOINT_URL (and the per-service variants) removed, fake credentials in
us-east-1, the cached boto3 clients cleared, and IP sockets refused, so nothing can reach the embedded
AWS on 127.0.0.1:4566 or the real one. moto answers in-process and needs no socket.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from api_harness import BUCKET, Api
from fakes import RecordingWorkflow
from moto import mock_aws

from tasklane import builtin_tasks  # noqa: F401 - registers the built-in task types
from tasklane.aws import clients
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.jobs import JobServices
from tasklane.provided import reset_all
from tasklane.registry import registry

REGION = "us-east-1"
TABLE = "tasklane-jobs-test"
IDEMPOTENCY_TABLE = "tasklane-idempotency-test"
KEYS_TABLE = "tasklane-keys-test"


@pytest.fixture(autouse=True)
def fresh_services() -> Iterator[None]:
    """Every @provided service (tasklane/provided.py) is built afresh for each test, from that test's settings."""
    reset_all()
    yield
    reset_all()


@pytest.fixture(autouse=True)
def offline_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")

    real_connect = socket.socket.connect

    def refuse_ip(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise RuntimeError(f"unit tests must not open network connections (tried {address!r})")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", refuse_ip)
    clients.client.cache_clear()
    yield
    clients.client.cache_clear()


@pytest.fixture(scope="session")
def boto_clients() -> dict[str, Any]:
    """boto3 clients are slow to build; moto intercepts every client while a mock is active, and refuses
    nothing outside one (the socket guard above does), so one client per service serves the session."""
    return {}


def _client(clients_by_service: dict[str, Any], service: str) -> Any:
    if service not in clients_by_service:
        # configured as deployed where that matters (S3 signs, and presigns, with SigV4)
        config = clients.SERVICE_CONFIGS.get(service)
        clients_by_service[service] = boto3.client(service, region_name=REGION, config=config)
    return clients_by_service[service]


@pytest.fixture
def aws(boto_clients: dict[str, Any]) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def ddb(aws: None, boto_clients: dict[str, Any]) -> Any:
    return _client(boto_clients, "dynamodb")


def create_table(ddb: Any, name: str, keys: tuple[str, ...], index: tuple[str, str, str]) -> str:
    """An on-demand table with string keys (partition[, sort]) and one GSI (name, partition, sort), projecting all."""
    index_name, index_pk, index_sk = index
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"), strict=False)],
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in dict.fromkeys((*keys, index_pk, index_sk))
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index_name,
                "KeySchema": [
                    {"AttributeName": index_pk, "KeyType": "HASH"},
                    {"AttributeName": index_sk, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def table(ddb: Any) -> str:
    return create_table(ddb, TABLE, ("pk", "sk"), ("by-tenant", "gsi1pk", "gsi1sk"))


@pytest.fixture
def keys_table(ddb: Any) -> str:
    """The API keys' own table, as stacks/constructs/job_store.py makes it."""
    return create_table(ddb, KEYS_TABLE, ("digest",), ("by-tenant", "tenant", "key_id"))


@pytest.fixture
def store(table: str, ddb: Any) -> DynamoJobStore:
    return DynamoJobStore(table, ddb)


@pytest.fixture
def idempotency_table(ddb: Any) -> str:
    """The API's Idempotency-Key table, as Powertools' DynamoDBPersistenceLayer expects it by default."""
    ddb.create_table(
        TableName=IDEMPOTENCY_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=IDEMPOTENCY_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )
    return IDEMPOTENCY_TABLE


@pytest.fixture
def s3(aws: None, boto_clients: dict[str, Any]) -> Any:
    client = _client(boto_clients, "s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def manifests(s3: Any) -> S3ManifestStore:
    return S3ManifestStore(BUCKET, s3)


@pytest.fixture
def sqs(aws: None, boto_clients: dict[str, Any]) -> Any:
    return _client(boto_clients, "sqs")


@pytest.fixture
def sfn(aws: None, boto_clients: dict[str, Any]) -> Any:
    return _client(boto_clients, "stepfunctions")


@pytest.fixture
def api(
    store: DynamoJobStore, manifests: S3ManifestStore, table: str, idempotency_table: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Api]:
    from lambdas.api import handler

    monkeypatch.setenv("TABLE_NAME", table)
    monkeypatch.setenv("MANIFEST_BUCKET", BUCKET)
    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:tasklane-jobs")
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", idempotency_table)
    ids = iter(f"job{i:03d}" for i in range(1000))
    workflow, resumer = RecordingWorkflow(), RecordingWorkflow()
    found = JobServices(store=store, manifests=manifests, workflow=workflow, registry=registry,
                        new_job_id=lambda: next(ids))
    with handler.services.override(found), handler.resumer.override(resumer):
        yield Api(services=found, workflow=workflow, resumer=resumer, store=store, manifests=manifests)
