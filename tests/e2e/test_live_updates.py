"""Live job status over the WebSocket API, on the embedded AWS: pushed within a second, never across tenants."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from cli.client import TasklaneClient
from scripts.local_tenants import id_token

pytestmark = pytest.mark.e2e

# Within a second of the write, typically; the slowest push on a busy 2-core machine gets some slack.
PUSH_LATENCY_SECONDS = 2.5


def ws_url(endpoints: dict[str, Any], authorization: str) -> str:
    return f"{endpoints['ws_url']}?token={urllib.parse.quote(authorization)}"


@contextmanager
def socket(endpoints: dict[str, Any], authorization: str) -> Iterator[ClientConnection]:
    with connect(ws_url(endpoints, authorization), open_timeout=30, close_timeout=2) as ws:
        yield ws


def request(ws: ClientConnection, message: dict[str, Any], expect: str, timeout: float = 15) -> dict[str, Any]:
    ws.send(json.dumps(message))
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        reply = json.loads(ws.recv(timeout=left))
        if reply["type"] == expect:
            return reply  # type: ignore[no-any-return]
        if reply["type"] == "error":
            raise AssertionError(f"error from the server: {reply}")
    raise TimeoutError(f"no {expect!r} within {timeout} s")


def drain(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    messages = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            messages.append(json.loads(ws.recv(timeout=left)))
        except TimeoutError:
            break
    return messages


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def headers_of(endpoints: dict[str, Any], tenant: str) -> str:
    return str(endpoints["tenants"][tenant]["headers"]["Authorization"])


def test_a_tenant_sees_its_job_run_to_succeeded_and_another_tenant_sees_nothing_of_it(
    endpoints: dict[str, Any], api: TasklaneClient
) -> None:
    with (
        socket(endpoints, headers_of(endpoints, "acme")) as mine,
        socket(endpoints, headers_of(endpoints, "globex")) as theirs,
    ):
        assert request(mine, {"action": "subscribe"}, "subscribed")["scope"] == "tenant"
        request(theirs, {"action": "subscribe"}, "subscribed")
        # Tasks of a third of a second, ten to a runner: the job runs a few seconds, long enough to be seen RUNNING
        tasks = [{"type": "sleep", "payload": {"seconds": 0.3}, "runtime": "lambda"} for _ in range(30)]
        job_id = api.submit({"name": "live-e2e", "tasks": tasks})["job_id"]
        seen: list[tuple[float, dict[str, Any]]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = json.loads(mine.recv(timeout=deadline - time.monotonic()))
            if message.get("type") == "job" and message["job"]["job_id"] == job_id:
                seen.append((time.time(), message))
                if message["job"]["status"] == "SUCCEEDED":
                    break
        statuses = [m["job"]["status"] for _, m in seen]
        assert statuses[-1] == "SUCCEEDED", statuses
        assert "RUNNING" in statuses
        seqs = [m["seq"] for _, m in seen]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        final = seen[-1][1]["job"]
        assert final["counts"] == {
            "total": 30, "pending": 0, "running": 0, "succeeded": 30, "failed": 0, "cancelled": 0,
        }
        # The pushed job is the REST API's job, and it arrived soon after its write.
        assert final == api.job(job_id)
        # Each push arrives soon after the write it shows (same clock: the emulator runs on this machine).
        latencies = sorted(received - epoch(m["job"]["updated_at"]) for received, m in seen)
        assert latencies[len(latencies) // 2] < 1.0, f"push latencies (s): {latencies}"
        assert latencies[-1] < PUSH_LATENCY_SECONDS, f"push latencies (s): {latencies}"

        leaked = [m for m in drain(theirs, 2.0) if job_id in json.dumps(m)]
        assert leaked == []


def test_a_job_subscription_resumes_from_its_last_sequence(endpoints: dict[str, Any], api: TasklaneClient) -> None:
    job_id = api.submit({"name": "live-resume", "tasks": [{"type": "echo", "payload": {}}]})["job_id"]
    authorization = headers_of(endpoints, "acme")
    with socket(endpoints, authorization) as ws:
        first = request(ws, {"action": "subscribe", "job_id": job_id}, "subscribed")
        assert first["snapshot"] is True and first["events"][0]["job"]["job_id"] == job_id
        last = first["events"][0]["seq"]
        deadline = time.monotonic() + 60
        status = first["events"][0]["job"]["status"]
        while status != "SUCCEEDED" and time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            if message.get("type") == "job":
                last, status = message["seq"], message["job"]["status"]
        assert status == "SUCCEEDED"
        # The job's last writes (its workflow resumed, its counters settled) may follow its final status:
        # read until the job is quiet, so that `last` is the newest event this subscriber was sent.
        with contextlib.suppress(TimeoutError):
            while True:
                message = json.loads(ws.recv(timeout=3))
                if message.get("type") == "job":
                    last = message["seq"]

    with socket(endpoints, authorization) as ws:
        # Nothing happened since: nothing is resent.
        again = request(ws, {"action": "subscribe", "job_id": job_id, "last_seq": last}, "subscribed")
        assert again["snapshot"] is False and again["events"] == []
        # An older sequence: a fresh snapshot of the job as it is now.
        stale = request(ws, {"action": "subscribe", "job_id": job_id, "last_seq": max(0, last - 1)}, "subscribed")
        assert stale["snapshot"] is True
        assert stale["events"][0]["job"] == api.job(job_id)


def test_another_tenants_job_cannot_be_followed(endpoints: dict[str, Any], other_tenant: TasklaneClient) -> None:
    theirs = other_tenant.submit({"name": "not yours", "tasks": [{"type": "echo", "payload": {}}]})["job_id"]
    with socket(endpoints, headers_of(endpoints, "acme")) as ws:
        ws.send(json.dumps({"action": "subscribe", "job_id": theirs}))
        reply = json.loads(ws.recv(timeout=15))
        assert reply == {"type": "error", "error": {"code": "not_found", "message": f"job {theirs!r} was not found"}}


def test_people_connect_with_their_cognito_id_token(endpoints: dict[str, Any]) -> None:
    user = endpoints["tenants"]["globex"]["user"]
    token = id_token(endpoints, user["username"], user["password"])
    with socket(endpoints, f"Bearer {token}") as ws:
        reply = request(ws, {"action": "subscribe"}, "subscribed")
        assert reply["scope"] == "tenant"


@pytest.mark.parametrize("authorization", ["ApiKey tlk_not-a-key", "Bearer not.a.jwt", ""])
def test_a_handshake_without_valid_credentials_is_refused(endpoints: dict[str, Any], authorization: str) -> None:
    url = ws_url(endpoints, authorization) if authorization else endpoints["ws_url"]
    with pytest.raises(InvalidStatus) as refused, connect(url, open_timeout=30):
        pass
    # AWS answers 401; the embedded AWS answers 500 when the authorizer refuses (and 401 without a token).
    assert refused.value.response.status_code in (401, 403, 500)
