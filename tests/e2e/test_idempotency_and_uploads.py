"""Idempotent submissions, jobs uploaded through S3, and payloads too large for a queue message."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from uploads import post_upload

from cli.client import ApiError, TasklaneClient

JOB = {"name": "once", "tasks": [{"type": "echo", "payload": {"n": 1}}]}


def test_the_same_key_and_body_return_the_original_job(api: TasklaneClient) -> None:
    key = uuid.uuid4().hex
    first = api.request("POST", "jobs", json=JOB, headers={"Idempotency-Key": key})
    response = httpx.post(
        f"{api.api_url}jobs", json=JOB, headers={**api_headers(api), "Idempotency-Key": key}, timeout=30
    )
    assert response.status_code == 200
    assert response.json()["job_id"] == first["job_id"]


def test_the_same_key_with_another_body_is_a_conflict(api: TasklaneClient) -> None:
    key = uuid.uuid4().hex
    api.request("POST", "jobs", json=JOB, headers={"Idempotency-Key": key})
    with pytest.raises(ApiError) as raised:
        api.request("POST", "jobs", json={**JOB, "name": "another"}, headers={"Idempotency-Key": key})
    assert raised.value.status == 409
    assert "different request body" in raised.value.message


def test_concurrent_replays_create_exactly_one_job(api: TasklaneClient) -> None:
    key = uuid.uuid4().hex
    body = {**JOB, "name": f"concurrent {key}"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: api.request("POST", "jobs", json=body, headers={"Idempotency-Key": key}),
                                range(8)))
    assert len({a["job_id"] for a in answers}) == 1
    named = [j for j in api.request("GET", "jobs", params={"limit": 200})["items"] if j["name"] == body["name"]]
    assert len(named) == 1


def test_keys_are_scoped_per_tenant(api: TasklaneClient, other_tenant: TasklaneClient) -> None:
    key = uuid.uuid4().hex
    mine = api.request("POST", "jobs", json=JOB, headers={"Idempotency-Key": key})
    theirs = other_tenant.request("POST", "jobs", json=JOB, headers={"Idempotency-Key": key})
    assert mine["job_id"] != theirs["job_id"]


def test_a_job_uploaded_through_s3_runs(api: TasklaneClient) -> None:
    # Given a job spec uploaded with the presigned POST
    upload = api.request("POST", "jobs/uploads")
    spec = {"name": "uploaded", "tasks": [{"type": "hash", "payload": {"data": str(i)}} for i in range(50)]}
    posted = post_upload(upload, json.dumps(spec).encode())
    assert posted.status_code in (200, 201, 204), posted.text

    # When it is submitted by reference, it runs like any other job
    job_id = api.submit({"manifest": {"upload_id": upload["upload_id"]}})["job_id"]
    job = api.wait(job_id, timeout=90)
    assert job["status"] == "SUCCEEDED"
    assert job["name"] == "uploaded"
    assert job["counts"]["succeeded"] == 50


def test_an_unknown_upload_and_an_invalid_uploaded_spec_are_400(api: TasklaneClient) -> None:
    with pytest.raises(ApiError) as raised:
        api.submit({"manifest": {"upload_id": uuid.uuid4().hex}})
    assert raised.value.status == 400
    upload = api.request("POST", "jobs/uploads")
    post_upload(upload, b'{"name": "bad", "tasks": [{"type": 3}]}')
    with pytest.raises(ApiError) as raised:
        api.submit({"manifest": {"upload_id": upload["upload_id"]}})
    assert raised.value.status == 400
    assert "manifest.tasks.0.type" in raised.value.message


def test_a_payload_larger_than_a_queue_message_reaches_its_task(api: TasklaneClient) -> None:
    big = "x" * 300_000  # above SQS's 256 KB: it travels through S3 by reference
    job_id = api.submit({"name": "big payload", "tasks": [{"type": "hash", "payload": {"data": big}}]})["job_id"]
    job = api.wait(job_id, timeout=90)
    assert job["status"] == "SUCCEEDED"
    detail = api.task(job_id, "t00000000")
    assert detail["payload"] == {"data": big}
    import hashlib

    assert detail["result"]["sha256"] == hashlib.sha256(big.encode()).hexdigest()


def api_headers(client: TasklaneClient) -> dict[str, str]:
    return dict(client._http.headers)
