"""Bounds on what one request may ask for, and no accepted input leaving a job stuck: on the embedded AWS.

Each test goes through API Gateway, the authorizer and the deployed functions; a few look behind the API
(S3, DynamoDB, Step Functions) to set up what the API itself no longer accepts.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from uploads import post_upload

from cli.client import ApiError, TasklaneClient
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.clock import now_iso
from tasklane.models import Job, JobStatus

# The local platform is the dev environment: its task timeout maxima, as cdk.json sets them.
MAX_TIMEOUTS = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]["environments"]["dev"][
    "task_timeout_max_seconds"]


def raw_post(api: TasklaneClient, path: str, body: str) -> httpx.Response:
    """A body written out by hand: json.dumps itself cannot nest thousands of levels deep."""
    return api._http.post(path, content=body.encode(), headers={"Content-Type": "application/json"})


def deep_job(levels: int) -> str:
    payload = '{"a":' * levels + "{}" + "}" * levels
    return '{"name": "deep", "tasks": [{"type": "echo", "payload": ' + payload + "}]}"


@pytest.mark.parametrize("levels", [200, 5000])
def test_a_body_nested_too_deep_is_422_and_leaves_no_job(api: TasklaneClient, levels: int) -> None:
    # Before: 200 levels was accepted (201) and then its dispatch failed for ever; 5,000 was a 502
    before = {j["job_id"] for j in api.jobs(limit=200)["items"]}
    answer = raw_post(api, "jobs", deep_job(levels))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_error"
    assert "at most 64 are allowed" in answer.json()["error"]["message"]
    assert {j["job_id"] for j in api.jobs(limit=200)["items"]} == before


@pytest.mark.parametrize(
    ("task", "words"),
    [
        ({"type": "sleep", "payload": {"seconds": 1e9}}, "payload.seconds"),
        ({"type": "hash", "payload": {"data": "x", "rounds": 10**12}}, "payload.rounds"),
        ({"type": "echo", "timeout_seconds": MAX_TIMEOUTS["lambda"] + 1}, "timeout_seconds"),
        ({"type": "sleep", "timeout_seconds": MAX_TIMEOUTS["eks"] + 1}, "timeout_seconds"),
    ],
)
def test_an_unbounded_task_is_refused(api: TasklaneClient, task: dict[str, Any], words: str) -> None:
    # Before: sleep 1e9 s and hash 10^12 rounds were accepted, and a task without a timeout ran unbounded
    with pytest.raises(ApiError) as refused:
        api.submit({"name": "greedy", "tasks": [task]})
    assert (refused.value.status, refused.value.code) == (400, "invalid_request")
    assert f"tasks[0].{words}" in refused.value.message


def test_every_task_states_the_timeout_it_runs_under(api: TasklaneClient) -> None:
    job_id = api.submit({"name": "timeouts", "tasks": [
        {"type": "echo"}, {"type": "sleep", "payload": {"seconds": 0.1}}, {"type": "echo", "timeout_seconds": 7},
    ]})["job_id"]
    assert api.wait(job_id, timeout=90)["status"] == "SUCCEEDED"
    # each runtime's default (dev: lambda 60 s, eks 900 s) where none was asked for
    assert [t["timeout_seconds"] for t in api.tasks(job_id)] == [60, 900, 7]
    assert api.task(job_id, "t00000002")["timeout_seconds"] == 7


def test_a_redrive_with_a_payload_larger_than_a_workflow_input_runs(api: TasklaneClient) -> None:
    # Given a job whose one task failed for good
    job_id = api.submit({"name": "redrive big", "tasks": [{"type": "fail", "max_attempts": 1}]})["job_id"]
    assert api.wait(job_id, timeout=90)["status"] == "FAILED"

    # When it is redriven with a payload over Step Functions' 256 KiB input limit
    big = {"fail_times": 0, "pad": "x" * 300_000}
    answer = api.redrive({"job_id": job_id, "payload": big})

    # Then the run starts (before: StartExecution refused the input and the job stayed PENDING, a retry 409)
    assert answer["redriven"] == 1 and answer["runs"] == {job_id: 1}, answer
    job = api.wait(job_id, timeout=90)
    assert job["status"] == "SUCCEEDED" and job["counts"]["succeeded"] == 1
    detail = api.task(job_id, "t00000000")
    assert detail["payload"] == big and detail["result"] == {"succeeded_on_attempt": 2}


def test_a_job_whose_dispatch_fails_for_good_ends_failed_with_why_and_then_cannot_be_cancelled(
    api: TasklaneClient, endpoints: dict[str, Any], aws: Any
) -> None:
    # Given a job as the API stored them before the depth limit: its manifest nests 250 levels, which the
    # dispatcher's parser refuses on every retry
    job_id = uuid.uuid4().hex
    tasks = json.loads(deep_job(250).replace('"deep"', '"undispatchable"'))["tasks"]
    manifest = {"name": "undispatchable", "tasks": [{**t, "runtime": "lambda"} for t in tasks * 2]}
    S3ManifestStore(endpoints["manifest_bucket"], aws("s3")).put_json(job_id, json.dumps(manifest).encode())
    now = now_iso()
    DynamoJobStore(endpoints["table_name"], aws("dynamodb")).create_job(Job(
        job_id=job_id, tenant="acme", name="undispatchable", status=JobStatus.PENDING, created_at=now,
        updated_at=now, total=2, remaining=2,
    ))

    # When its workflow runs, as the API starts it
    aws("stepfunctions").start_execution(
        stateMachineArn=endpoints["state_machine_arn"], name=job_id,
        input=json.dumps({"job_id": job_id, "run": 0, "rerun": None}),
    )

    # Then, after the dispatch step's retries, the job ends FAILED and says why (before: RUNNING for ever,
    # and a cancel could not end it)
    job = api.wait(job_id, timeout=180)
    assert job["status"] == "FAILED", job
    assert job["error"].startswith("the job's workflow could not go on: ")
    assert "recursion limit" in job["error"]
    assert job["counts"] == {"total": 2, "pending": 0, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 2}
    with pytest.raises(ApiError) as refused:
        api.cancel(job_id)
    assert refused.value.status == 409
    history = aws("stepfunctions").describe_execution(
        executionArn=endpoints["state_machine_arn"].replace(":stateMachine:", ":execution:") + f":{job_id}"
    )
    assert history["status"] == "FAILED"


def test_an_upload_is_a_presigned_post_that_runs_its_job(api: TasklaneClient) -> None:
    upload = api.request("POST", "jobs/uploads")
    assert upload["method"] == "POST" and upload["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    spec = {"name": "posted", "tasks": [{"type": "echo", "payload": {"i": i}} for i in range(20)]}
    posted = post_upload(upload, json.dumps(spec).encode())
    assert posted.status_code in (200, 201, 204), posted.text
    job_id = api.submit({"manifest": {"upload_id": upload["upload_id"]}})["job_id"]
    job = api.wait(job_id, timeout=90)
    assert (job["status"], job["counts"]["succeeded"]) == ("SUCCEEDED", 20)


def test_an_upload_that_breaks_its_policy_is_refused_by_s3(api: TasklaneClient) -> None:
    upload = api.request("POST", "jobs/uploads")
    # another content type than the one the policy signs
    with httpx.Client(timeout=30) as s3:
        refused = s3.post(upload["url"], data=upload["fields"] | {"Content-Type": "text/plain"},
                          files={"file": ("job.json", b'{"name": "x", "tasks": [{"type": "echo"}]}', "text/plain")})
    assert refused.status_code == 403, refused.text
    with pytest.raises(ApiError) as nothing:
        api.submit({"manifest": {"upload_id": upload["upload_id"]}})
    assert nothing.value.status == 400

