"""Bad input through API Gateway: a 4xx with a message that says what is wrong, and no job written."""

from __future__ import annotations

import httpx
import pytest

from cli.client import ApiError, TasklaneClient


def post_raw(endpoints: dict, body: str) -> httpx.Response:
    headers = {"content-type": "application/json", **endpoints["tenants"]["acme"]["headers"]}
    return httpx.post(f"{endpoints['api_url']}jobs", content=body, headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ('{"name": "x", "tasks": [', 422, "not valid JSON"),
        ('{"name": "x"}', 422, "body.tasks"),
        ('{"name": "x", "tasks": []}', 422, "at least 1 item"),
        ('{"name": "x", "tasks": [{"type": 5}]}', 422, "body.tasks.0.type"),
        ('{"name": "x", "tasks": [{"type": "echo", "payload": []}]}', 422, "body.tasks.0.payload"),
        ('{"name": "x", "tasks": [{"type": "teleport"}]}', 400, "unknown task type 'teleport'"),
        ('{"name": "x", "tasks": [{"type": "echo"}], "colour": "red"}', 422, "colour"),
    ],
)
def test_bad_job_is_refused_with_a_clear_4xx(endpoints: dict, body: str, status: int, words: str) -> None:
    response = post_raw(endpoints, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert words in error["message"]
    assert error["code"]


def test_unknown_job_is_404(api: TasklaneClient) -> None:
    with pytest.raises(ApiError) as raised:
        api.job("no-such-job")
    assert raised.value.status == 404
    assert raised.value.code == "not_found"


def test_health_and_openapi_answer(endpoints: dict) -> None:
    assert httpx.get(f"{endpoints['api_url']}health", timeout=30).json() == {"status": "ok"}
    document = httpx.get(f"{endpoints['api_url']}openapi.json", timeout=30).json()
    assert "/jobs" in document["paths"]
    assert "/jobs/{job_id}/tasks" in document["paths"]
