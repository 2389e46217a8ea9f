"""End-to-end tests run against the platform deployed into the embedded AWS (`make up`), through its API.

Named explicitly (`make test-e2e` or `pytest tests/e2e`). With no platform up they skip with one line saying so;
`make test-e2e` passes --require-platform, so there a missing platform fails the run instead of skipping it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.client import TasklaneClient, local_endpoints

E2E_DIR = Path(__file__).parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-platform", action="store_true",
        help="fail, rather than skip, when no local platform answers (make test-e2e)",
    )


def platform_problem() -> str | None:
    """Why the local platform cannot serve the tests, or None when its API answers."""
    try:
        api_url = local_endpoints()["api_url"]
    except FileNotFoundError as exc:
        return str(exc)
    try:
        httpx.get(api_url.rstrip("/") + "/health", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        return f"the local API at {api_url} does not answer ({exc})"
    return None


NOT_RUN = pytest.StashKey[str]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if E2E_DIR in item.path.parents]
    if not ours or (problem := platform_problem()) is None:
        return
    if config.getoption("--require-platform"):
        raise pytest.UsageError(f"the end-to-end tests need the local platform: {problem}")
    # Left out with one line of explanation, rather than one skip line per test.
    items[:] = [item for item in items if E2E_DIR not in item.path.parents]
    config.hook.pytest_deselected(items=ours)
    config.stash[NOT_RUN] = f"{len(ours)} end-to-end tests not run: no local platform: {problem}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if NOT_RUN in config.stash:
        terminalreporter.write_line(config.stash[NOT_RUN], yellow=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Nothing to run here is the expected answer without a platform, not an error of the run.
    if NOT_RUN in session.config.stash and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK


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
