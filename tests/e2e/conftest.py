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
