"""End-to-end tests run against the platform deployed into the embedded AWS (`make up`), through its API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cli.client import TasklaneClient, local_endpoints


@pytest.fixture(scope="session")
def endpoints() -> dict[str, Any]:
    return local_endpoints()


@pytest.fixture(scope="session")
def api(endpoints: dict[str, Any]) -> Iterator[TasklaneClient]:
    client = TasklaneClient(endpoints["api_url"])
    yield client
    client.close()
