"""tasklane-sdk (sdk/): retries that are safe and honour Retry-After, automatic idempotency keys, paging, waiting
with progress, large submissions; the async client behaves as the sync one."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from cli_fakes import API_URL, FakeApi, error

from tasklane_sdk import ApiError, AsyncClient, Client, JobWaitTimeout, RetryPolicy
from tasklane_sdk._core import retry_after_seconds

HEADERS = {"Authorization": "ApiKey tlk_acme"}


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(api: FakeApi, waits: list[float]) -> Client:
    return Client(API_URL, HEADERS, transport=api.transport, sleep=waits.append)


def test_a_429_is_retried_after_the_wait_the_api_asked_for(client: Client, api: FakeApi, waits: list[float]) -> None:
    api.failures.append(httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "Too Many Requests"}))
    job_id = api.add_job()
    assert client.job(job_id)["job_id"] == job_id
    assert waits == [7.0]


def test_retry_after_may_be_an_http_date() -> None:
    response = httpx.Response(429, headers={"Retry-After": "Fri, 04 Dec 2026 18:00:30 GMT",
                                            "Date": "Fri, 04 Dec 2026 18:00:00 GMT"})
    assert retry_after_seconds(response) == 30.0
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"})) is None


def test_a_5xx_on_a_read_is_retried_with_growing_jittered_waits(client: Client, api: FakeApi,
                                                                 waits: list[float]) -> None:
    api.failures += [httpx.Response(503, text="busy"), httpx.Response(502, text="bad gateway")]
    assert client.jobs()["items"] == []
    assert len(waits) == 2 and 0 <= waits[0] <= 0.5 and 0 <= waits[1] <= 1.0


def test_retries_are_bounded_and_the_last_answer_is_the_error(client: Client, api: FakeApi,
                                                             waits: list[float]) -> None:
    api.failures += [error(503, "unavailable", "try later")] * 5
    with pytest.raises(ApiError) as caught:
        client.jobs()
    assert (caught.value.status, caught.value.code) == (503, "unavailable")
    assert len(api.requests) == 5 and len(waits) == 4


def test_a_write_without_an_idempotency_key_is_not_repeated_after_a_5xx(client: Client, api: FakeApi) -> None:
    job_id = api.add_job(statuses=["RUNNING"])
    api.failures.append(error(500, "internal", "boom"))
    with pytest.raises(ApiError):
        client.cancel(job_id)
    assert len(api.requests) == 1


def test_a_write_that_never_reached_the_api_is_retried(client: Client, api: FakeApi) -> None:
    job_id = api.add_job(statuses=["RUNNING"])
    api.failures.append(httpx.ConnectError("connection refused"))
    assert client.cancel(job_id)["job_id"] == job_id
    assert len(api.requests) == 2


def test_submit_makes_one_idempotency_key_and_its_retries_reuse_it(client: Client, api: FakeApi) -> None:
    api.failures.append(httpx.ReadTimeout("read timed out"))
    created = client.submit({"name": "x", "tasks": [{"type": "echo"}]})
    keys = [request.headers["Idempotency-Key"] for request in api.requests]
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0].startswith("sdk-")
    assert len(api.jobs) == 1 and created["job_id"] in api.jobs
    client.submit({"name": "y", "tasks": [{"type": "echo"}]})
    assert api.requests[-1].headers["Idempotency-Key"] != keys[0]  # a new submission, a new key


def test_a_large_spec_goes_through_the_upload_path(client: Client, api: FakeApi) -> None:
    spec = {"name": "big", "tasks": [{"type": "echo", "payload": {"i": i}} for i in range(3)]}
    created = client.submit_large(spec, idempotency_key="nightly")
    assert [(r.method, r.url.host) for r in api.requests] == [("POST", "api.test"), ("POST", "s3.test"),
                                                              ("POST", "api.test")]
    assert "authorization" not in api.requests[1].headers  # the presigned form carries its own credentials
    assert len(api.jobs[created["job_id"]].tasks) == 3
    assert client.submit_large(spec, idempotency_key="nightly") == created  # a replay: the same job


def test_iterating_tasks_and_results_follows_the_pages(client: Client, api: FakeApi) -> None:
    job_id = api.add_job(task_statuses=["SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED", "FAILED"])
    assert [t["index"] for t in client.iter_tasks(job_id, page_size=2)] == [0, 1, 2, 3, 4]
    assert sum(1 for r in api.requests if r.url.path.endswith("/tasks")) == 3
    assert [task_id for task_id, _ in client.iter_results(job_id)] == ["t00000000", "t00000002", "t00000003"]


def test_wait_reports_progress_when_counts_change_and_returns_the_final_job(client: Client, api: FakeApi) -> None:
    job_id = api.add_job(statuses=["RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"])
    seen: list[tuple[str, int]] = []
    job = client.wait(job_id, interval=0, on_progress=lambda j: seen.append((j["status"], j["counts"]["succeeded"])))
    assert job["status"] == "SUCCEEDED"
    # four polls; the second one's counts equal the first one's, so it is not reported
    assert sum(1 for r in api.requests if r.url.path == f"/v1/jobs/{job_id}") == 4
    assert seen == [("RUNNING", 0), ("RUNNING", 1), ("SUCCEEDED", 3)]


def test_wait_gives_up_with_the_job_as_last_seen(client: Client, api: FakeApi) -> None:
    job_id = api.add_job(statuses=["RUNNING"] * 3)
    with pytest.raises(JobWaitTimeout) as caught:
        client.wait(job_id, timeout=0, interval=0)
    assert caught.value.job["status"] == "RUNNING"


def test_the_async_client_retries_and_pages_like_the_sync_one(api: FakeApi) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async def scenario() -> tuple[dict[str, Any], list[int], dict[str, Any]]:
        async with AsyncClient(API_URL, HEADERS, transport=api.transport, sleep=record) as tasklane:
            api.failures.append(httpx.Response(429, headers={"Retry-After": "2"}))
            created = await tasklane.submit({"name": "a", "tasks": [{"type": "echo"}, {"type": "echo"}]})
            indexes = [task["index"] async for task in tasklane.iter_tasks(created["job_id"], page_size=1)]
            return created, indexes, await tasklane.job(created["job_id"])

    created, indexes, job = asyncio.run(scenario())
    assert waits == [2.0] and indexes == [0, 1] and job["job_id"] == created["job_id"]


def test_an_api_key_is_sent_as_the_authorization_header(api: FakeApi) -> None:
    with Client(API_URL, api_key="tlk_acme", transport=api.transport, retry=RetryPolicy(attempts=1)) as tasklane:
        assert tasklane.jobs()["items"] == []
    assert api.requests[0].headers["Authorization"] == "ApiKey tlk_acme"


def test_the_sdk_installs_without_the_platform() -> None:
    """Its distribution needs only httpx, and no module of it imports the platform's packages."""
    import ast
    import tomllib
    from pathlib import Path

    sdk = Path(__file__).parents[2] / "sdk"
    assert tomllib.loads((sdk / "pyproject.toml").read_text())["project"]["dependencies"] == ["httpx>=0.27"]
    imported = set()
    for module in (sdk / "tasklane_sdk").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "asyncio", "collections", "dataclasses", "datetime", "email", "hashlib",
                        "httpx", "json", "random", "time", "typing", "uuid", "tasklane_sdk"}, imported


def test_the_async_client_waits_like_the_sync_one(api: FakeApi) -> None:
    job_id = api.add_job(statuses=["RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"])
    seen: list[int] = []

    async def no_wait(seconds: float) -> None:
        return None

    async def scenario() -> dict[str, Any]:
        async with AsyncClient(API_URL, HEADERS, transport=api.transport, sleep=no_wait) as tasklane:
            return await tasklane.wait(job_id, interval=0, on_progress=lambda j: seen.append(j["counts"]["succeeded"]))

    assert asyncio.run(scenario())["status"] == "SUCCEEDED"
    assert seen == [0, 1, 3]
