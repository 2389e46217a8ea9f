"""The client (and so jobctl) waits out a 429 as its Retry-After says, and gives up at once on a long one."""

from __future__ import annotations

import httpx
import pytest

from cli.client import ApiError, RetryPolicy, TasklaneClient


def client(answers: list[httpx.Response]) -> tuple[TasklaneClient, list[float], list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    slept: list[float] = []
    api = TasklaneClient("https://api.test/v1", transport=httpx.MockTransport(handler), sleep=slept.append)
    return api, slept, seen


def too_many(retry_after: str | None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(429, headers=headers, json={"error": {"code": "too_many_requests", "message": "slow"}})


def test_a_throttled_request_is_sent_again_after_its_retry_after() -> None:
    api, slept, seen = client([too_many("2"), too_many(None), httpx.Response(200, json={"ok": True})])
    assert api.request("POST", "jobs", json={"name": "x"}) == {"ok": True}
    # the first wait is the one asked for; without a Retry-After, a jittered backoff (under 1 s on the 2nd retry)
    assert slept[0] == 2.0 and 0 <= slept[1] <= 1.0 and len(seen) == 3
    assert seen[0].content == seen[2].content  # the same request each time


def test_a_long_retry_after_is_not_waited_for() -> None:
    api, slept, _ = client([httpx.Response(429, headers={"Retry-After": "3600"},
                                           json={"error": {"code": "quota_exceeded", "message": "daily quota"}})])
    with pytest.raises(ApiError) as raised:
        api.request("GET", "jobs")
    assert (raised.value.status, raised.value.code, raised.value.retry_after) == (429, "quota_exceeded", 3600.0)
    assert slept == []


def test_it_gives_up_after_the_policys_tries() -> None:
    attempts = RetryPolicy().attempts
    api, slept, seen = client([too_many("1") for _ in range(attempts)])
    with pytest.raises(ApiError) as raised:
        api.request("GET", "jobs")
    assert raised.value.status == 429 and slept == [1.0] * (attempts - 1) and len(seen) == attempts
