"""End-to-end tests run against the platform deployed into the embedded AWS (`make up`), through its API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cli.client import TasklaneClient, local_endpoints


@pytest.fixture(scope="session")
def endpoints() -> dict[str, Any]:
    return local_endpoints()


def tenant_client(endpoints: dict[str, Any], tenant: str) -> TasklaneClient:
    return TasklaneClient(endpoints["api_url"], endpoints["tenants"][tenant]["headers"])


@pytest.fixture(scope="session")
def api(endpoints: dict[str, Any]) -> Iterator[TasklaneClient]:
    """The API as the first local tenant (acme)."""
    client = tenant_client(endpoints, "acme")
    yield client
    client.close()


@pytest.fixture(scope="session")
def other_tenant(endpoints: dict[str, Any]) -> Iterator[TasklaneClient]:
    """The API as the second local tenant (globex)."""
    client = tenant_client(endpoints, "globex")
    yield client
    client.close()


@pytest.fixture(scope="session")
def aws(endpoints: dict[str, Any]) -> Any:
    """boto3 clients of the embedded AWS, for tests that inject faults or look behind the API."""
    import boto3

    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    return lambda service: session.client(service, endpoint_url=endpoints["aws_endpoint_url"])
