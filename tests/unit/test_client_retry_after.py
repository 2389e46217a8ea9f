"""The client (and so jobctl) waits out a short 429 as its Retry-After says, and gives up on a long one."""

from __future__ import annotations

import httpx
import pytest

from cli.client import ApiError, TasklaneClient


def client(answers: list[httpx.Response]) -> tuple[TasklaneClient, list[float], list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    api = TasklaneClient("https://api.test/v1", transport=httpx.MockTransport(handler))
    slept: list[float] = []
    api._sleep = slept.append  # type: ignore[method-assign]
    return api, slept, seen


def too_many(retry_after: str | None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(429, headers=headers, json={"error": {"code": "too_many_requests", "message": "slow"}})


def test_a_throttled_request_is_sent_again_after_its_retry_after() -> None:
    api, slept, seen = client([too_many("2"), too_many(None), httpx.Response(200, json={"ok": True})])
    assert api.request("POST", "jobs", json={"name": "x"}) == {"ok": True}
    assert slept == [2.0, 1.0] and len(seen) == 3
    assert seen[0].content == seen[2].content  # the same request each time


def test_a_long_retry_after_is_not_waited_for() -> None:
    api, slept, _ = client([httpx.Response(429, headers={"Retry-After": "3600"},
                                           json={"error": {"code": "quota_exceeded", "message": "daily quota"}})])
    with pytest.raises(ApiError) as raised:
        api.request("GET", "jobs")
    assert (raised.value.status, raised.value.code) == (429, "quota_exceeded") and slept == []


def test_it_gives_up_after_a_few_tries() -> None:
    api, slept, seen = client([too_many("1") for _ in range(4)])
    with pytest.raises(ApiError) as raised:
        api.request("GET", "jobs")
    assert raised.value.status == 429 and slept == [1.0, 1.0, 1.0] and len(seen) == 4
