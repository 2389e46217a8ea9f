"""The job API's tenant scoping, listing, job control, Idempotency-Key, uploads and dead letters, over moto."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from api_harness import BUCKET, Api
from fakes import RecordingQueue

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.dispatch import dispatch_rerun
from tasklane.models import JobStatus, Runtime, TaskRecord, TaskStatus, task_id_for

NOW = "2026-01-01T00:00:00.000Z"


def submit(api: Api, tasks: int = 1, tenant: str = "acme", **fields: Any) -> str:
    status, body = api.call("POST", "/jobs", {"name": "nightly", "tasks": [{"type": "echo"}] * tasks, **fields},
                            tenant=tenant)
    assert status == 201, body
    return str(body["job_id"])


def error_of(body: Any, code: str) -> str:
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return str(body["error"]["message"])


def write_tasks(store: DynamoJobStore, job_id: str, count: int, payload_ref: str | None = None) -> None:
    store.write_tasks(job_id, [
        TaskRecord(job_id=job_id, task_id=task_id_for(i), index=i, type="echo", runtime=Runtime.LAMBDA,
                   status=TaskStatus.PENDING, payload={} if payload_ref else {"i": i}, payload_ref=payload_ref,
                   created_at=NOW, updated_at=NOW)
        for i in range(count)
    ], count)


def fail(store: DynamoJobStore, job_id: str, errors: dict[int, str], tenant: str = "acme") -> None:
    store.record_outcomes(job_id, [
        TaskOutcome(job_id, task_id_for(i), 1, OutcomeKind.FAILED, error=e, tenant=tenant, task_type="echo")
        for i, e in errors.items()
    ])


def finished_job(api: Api, outcomes: dict[int, OutcomeKind], status: JobStatus = JobStatus.FAILED) -> str:
    """A job that ran to its end: each task index with its outcome (FAILED ones dead-lettered)."""
    job_id = submit(api, tasks=len(outcomes))
    write_tasks(api.store, job_id, len(outcomes))
    api.store.record_outcomes(job_id, [
        TaskOutcome(job_id, task_id_for(i), 1, kind, result={} if kind is OutcomeKind.SUCCEEDED else None,
                    error=None if kind is OutcomeKind.SUCCEEDED else f"ValueError: row {i} is bad", tenant="acme",
                    task_type="echo")
        for i, kind in outcomes.items()
    ])
    assert api.store.set_job_status(job_id, status, only_from=(JobStatus.PENDING,))
    return job_id


# --- the caller's tenant ------------------------------------------------------------------------------


def test_a_request_without_the_authorizers_tenant_is_401(api: Api) -> None:
    status, body = api.call("GET", "/jobs", authorizer={})
    assert status == 401
    assert "Authorization" in error_of(body, "unauthorized")
    status, body = api.call("POST", "/jobs", {"name": "x", "tasks": [{"type": "echo"}]}, authorizer={})
    assert status == 401
    assert api.workflow.started == []


def test_the_tenant_comes_from_the_authorizer_not_the_body(api: Api) -> None:
    status, body = api.call("POST", "/jobs", {"name": "x", "tasks": [{"type": "echo"}], "tenant": "globex"})
    assert status == 422  # no body field names a tenant
    assert "tenant" in error_of(body, "validation_error")
    job_id = submit(api, tenant="globex")
    assert api.store.get_job(job_id).tenant == "globex"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/jobs/{job}"), ("GET", "/jobs/{job}/tasks"), ("GET", "/jobs/{job}/tasks/t00000000"),
     ("POST", "/jobs/{job}/cancel"), ("POST", "/jobs/{job}/retry")],
)
def test_another_tenant_gets_404_for_a_job_it_does_not_own(api: Api, method: str, path: str) -> None:
    job_id = submit(api, tenant="acme")
    write_tasks(api.store, job_id, 1)
    before = api.store.get_job(job_id)

    status, body = api.call(method, path.format(job=job_id), tenant="globex")

    assert status == 404
    assert job_id in error_of(body, "not_found")
    # and nothing was done to the job
    assert api.store.get_job(job_id) == before
    assert api.resumer.interrupted == [] and len(api.workflow.started) == 1


def test_each_tenant_lists_only_its_own_jobs(api: Api) -> None:
    ours = [submit(api, tenant="acme") for _ in range(2)]
    theirs = submit(api, tenant="globex")
    _, acme = api.call("GET", "/jobs")
    _, globex = api.call("GET", "/jobs", tenant="globex")
    assert sorted(j["job_id"] for j in acme["items"]) == ours
    assert [j["job_id"] for j in globex["items"]] == [theirs]
    _, nobody = api.call("GET", "/jobs", tenant="initech")
    assert nobody == {"items": [], "next_token": None}


# --- listing jobs -------------------------------------------------------------------------------------


def test_jobs_are_listed_newest_first_page_by_page(api: Api) -> None:
    ids = [submit(api) for _ in range(5)]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = {"limit": "2", **({"next_token": token} if token else {})}
        status, body = api.call("GET", "/jobs", query=query)
        assert status == 200 and len(body["items"]) <= 2
        seen += [j["job_id"] for j in body["items"]]
        pages += 1
        token = body["next_token"]
        if not token:
            break
    assert seen == list(reversed(ids))
    assert pages >= 3


def test_jobs_are_filtered_by_status_across_pages(api: Api) -> None:
    ids = [submit(api) for _ in range(5)]
    for job_id in ids[0], ids[3]:
        api.store.set_job_status(job_id, JobStatus.RUNNING, only_from=(JobStatus.PENDING,))
    status, body = api.call("GET", "/jobs", query={"status": "RUNNING", "limit": "1"})
    assert status == 200
    found = [j["job_id"] for j in body["items"]]
    while body["next_token"]:
        _, body = api.call("GET", "/jobs", query={"status": "RUNNING", "limit": "1", "next_token": body["next_token"]})
        found += [j["job_id"] for j in body["items"]]
    assert found == [ids[3], ids[0]]
    assert {j["status"] for j in api.call("GET", "/jobs", query={"status": "PENDING"})[1]["items"]} == {"PENDING"}


def test_a_next_token_of_another_tenant_or_tampered_is_400(api: Api) -> None:
    for _ in range(3):
        submit(api)
    _, body = api.call("GET", "/jobs", query={"limit": "1"})
    token = body["next_token"]
    assert token
    status, other = api.call("GET", "/jobs", query={"next_token": token}, tenant="globex")
    assert status == 400
    assert "next_token" in error_of(other, "invalid_request")
    decoded = json.loads(base64.urlsafe_b64decode(token))
    decoded["gsi1pk"] = "TENANT#globex"
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode()
    assert api.call("GET", "/jobs", query={"next_token": forged})[0] == 400
    assert api.call("GET", "/jobs", query={"next_token": token[:-4] + "!!!!"})[0] == 400


# --- cancel and retry ---------------------------------------------------------------------------------


def test_cancel_is_202_and_the_job_is_then_stopping(api: Api) -> None:
    job_id = submit(api)
    api.store.save_resume_token(job_id, "tok-wait")  # the workflow waits on its tasks

    status, body = api.call("POST", f"/jobs/{job_id}/cancel")

    assert status == 202
    assert (body["job_id"], body["status"], body["stopping"]) == (job_id, "PENDING", "cancelled")
    assert api.call("GET", f"/jobs/{job_id}")[1]["stopping"] == "cancelled"
    # the waiting execution was interrupted, so its stop step cancels the tasks
    assert api.resumer.interrupted == [("tok-wait", "JobStopped", "cancelled")]
    # cancelling again is harmless: still stopping, no second interrupt
    again_status, again = api.call("POST", f"/jobs/{job_id}/cancel")
    assert (again_status, again["stopping"]) == (202, "cancelled")
    assert len(api.resumer.interrupted) == 1


def test_cancel_before_the_workflow_waits_interrupts_nothing_yet(api: Api) -> None:
    job_id = submit(api)
    assert api.call("POST", f"/jobs/{job_id}/cancel")[0] == 202
    assert api.resumer.interrupted == []  # its wait step will see the stop and interrupt itself
    assert api.store.stopped_jobs([job_id]) == {job_id}


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_cancel_of_a_finished_job_is_409(api: Api, status: JobStatus) -> None:
    job_id = submit(api)
    api.store.set_job_status(job_id, status, only_from=(JobStatus.PENDING,))
    got, body = api.call("POST", f"/jobs/{job_id}/cancel")
    assert got == 409
    assert status.value in error_of(body, "conflict")
    assert api.store.stopped_jobs([job_id]) == set()


def test_retry_of_a_running_job_is_409(api: Api) -> None:
    job_id = submit(api)
    api.store.set_job_status(job_id, JobStatus.RUNNING, only_from=(JobStatus.PENDING,))
    status, body = api.call("POST", f"/jobs/{job_id}/retry")
    assert status == 409
    assert "RUNNING" in error_of(body, "conflict")
    assert len(api.workflow.started) == 1


def test_retry_of_a_job_without_failed_tasks_is_409(api: Api) -> None:
    job_id = finished_job(api, {0: OutcomeKind.SUCCEEDED}, JobStatus.SUCCEEDED)
    status, body = api.call("POST", f"/jobs/{job_id}/retry")
    assert status == 409
    assert "no FAILED task" in error_of(body, "conflict")


def test_retry_of_a_failed_job_is_202_and_starts_run_1(api: Api) -> None:
    job_id = finished_job(api, {0: OutcomeKind.SUCCEEDED, 1: OutcomeKind.FAILED})

    status, body = api.call("POST", f"/jobs/{job_id}/retry")

    assert status == 202
    assert (body["job_id"], body["status"], body["run"]) == (job_id, "PENDING", 1)
    assert api.workflow.started[-1] == (
        f"{job_id}-run1",
        {"job_id": job_id, "run": 1,
         "rerun": {"task_ids": None, "payload": None, "payload_ref": None, "by": "key:abc"}},
    )
    # the run is open: asking again before it ends is a conflict
    assert api.call("POST", f"/jobs/{job_id}/retry")[0] == 409


# --- Idempotency-Key ----------------------------------------------------------------------------------


def test_a_replayed_post_answers_200_with_the_same_job(api: Api) -> None:
    request = {"name": "nightly", "tasks": [{"type": "echo"}]}
    first_status, first = api.call("POST", "/jobs", request, headers={"Idempotency-Key": "k-1"})
    replay_status, replay = api.call("POST", "/jobs", request, headers={"Idempotency-Key": "k-1"})
    assert (first_status, replay_status) == (201, 200)
    assert replay["job_id"] == first["job_id"]
    assert len(api.workflow.started) == 1
    assert [j["job_id"] for j in api.call("GET", "/jobs")[1]["items"]] == [first["job_id"]]


def test_the_same_key_with_another_body_is_409(api: Api) -> None:
    api.call("POST", "/jobs", {"name": "a", "tasks": [{"type": "echo"}]}, headers={"Idempotency-Key": "k-2"})
    status, body = api.call("POST", "/jobs", {"name": "b", "tasks": [{"type": "echo"}]},
                            headers={"Idempotency-Key": "k-2"})
    assert status == 409
    assert "k-2" in error_of(body, "idempotency_conflict")
    assert len(api.workflow.started) == 1


def test_without_a_key_two_posts_are_two_jobs(api: Api) -> None:
    request = {"name": "nightly", "tasks": [{"type": "echo"}]}
    ids = {api.call("POST", "/jobs", request)[1]["job_id"] for _ in range(2)}
    assert len(ids) == 2 and len(api.workflow.started) == 2


def test_a_key_is_scoped_to_its_tenant(api: Api) -> None:
    request = {"name": "nightly", "tasks": [{"type": "echo"}]}
    ours = api.call("POST", "/jobs", request, headers={"Idempotency-Key": "shared"})
    theirs = api.call("POST", "/jobs", request, headers={"Idempotency-Key": "shared"}, tenant="globex")
    assert (ours[0], theirs[0]) == (201, 201)
    assert ours[1]["job_id"] != theirs[1]["job_id"]


def test_a_failed_request_does_not_use_up_its_key(api: Api) -> None:
    job_id = submit(api)
    api.store.set_job_status(job_id, JobStatus.SUCCEEDED, only_from=(JobStatus.PENDING,))
    assert api.call("POST", f"/jobs/{job_id}/cancel", headers={"Idempotency-Key": "c-1"})[0] == 409
    assert api.call("POST", f"/jobs/{job_id}/cancel", headers={"Idempotency-Key": "c-1"})[0] == 409


def test_a_replayed_cancel_answers_the_first_answer(api: Api) -> None:
    job_id = submit(api)
    first = api.call("POST", f"/jobs/{job_id}/cancel", headers={"Idempotency-Key": "c-2"})
    replay = api.call("POST", f"/jobs/{job_id}/cancel", headers={"Idempotency-Key": "c-2"})
    assert (first[0], replay[0]) == (202, 200)
    assert replay[1] == first[1]


def test_an_overlong_key_is_refused(api: Api) -> None:
    status, body = api.call("POST", "/jobs", {"name": "a", "tasks": [{"type": "echo"}]},
                            headers={"Idempotency-Key": "k" * 257})
    assert status == 422
    assert "idempotency-key" in error_of(body, "validation_error").lower()
    assert api.workflow.started == []


# --- uploads ------------------------------------------------------------------------------------------


def new_upload(api: Api, tenant: str = "acme") -> tuple[str, dict[str, Any]]:
    status, body = api.call("POST", "/jobs/uploads", tenant=tenant)
    assert status == 201, body
    assert body["method"] == "POST" and body["expires_in"] == 900
    return str(body["upload_id"]), body


def put_upload(api: Api, upload_id: str, spec: Any, tenant: str = "acme") -> None:
    """What a client does with the presigned URL (moto serves no HTTP here, so the object is put directly)."""
    body = spec if isinstance(spec, bytes) else json.dumps(spec).encode()
    api.manifests._s3.put_object(Bucket=BUCKET, Key=f"uploads/{tenant}/{upload_id}.json", Body=body)


def test_an_upload_gets_a_sigv4_presigned_post_bound_to_its_key_size_and_content_type(api: Api) -> None:
    import base64

    from tasklane.jobs import MAX_UPLOAD_BYTES

    upload_id, form = new_upload(api)
    assert len(upload_id) == 32
    assert BUCKET in form["url"]
    fields = form["fields"]
    assert fields["key"] == f"uploads/acme/{upload_id}.json"
    assert fields["Content-Type"] == form["content_type"] == "application/json"
    # SigV4 (before: a SigV2 presigned PUT with no limit at all)
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256" and fields["x-amz-signature"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"Content-Type": "application/json"} in policy["conditions"]
    assert ["content-length-range", 1, MAX_UPLOAD_BYTES] in policy["conditions"]
    assert {"key": f"uploads/acme/{upload_id}.json"} in policy["conditions"]
    assert form["max_bytes"] == MAX_UPLOAD_BYTES
    assert new_upload(api)[0] != upload_id


def test_an_uploaded_object_over_the_limit_is_413_and_never_read(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from tasklane import jobs

    upload_id, _ = new_upload(api)
    put_upload(api, upload_id, {"name": "x", "tasks": [{"type": "echo", "payload": {"pad": "x" * 2000}}]})
    monkeypatch.setattr(jobs, "MAX_UPLOAD_BYTES", 1000)
    read: list[str] = []
    monkeypatch.setattr(api.manifests, "read_upload", lambda tenant, upload_id: read.append(upload_id))
    status, body = api.call("POST", "/jobs", {"manifest": {"upload_id": upload_id}})
    assert status == 413
    assert "at most 1000 are read" in error_of(body, "too_large")
    assert read == [] and api.workflow.started == []


def test_a_job_submitted_from_an_upload_is_read_and_validated(api: Api) -> None:
    upload_id, _ = new_upload(api)
    put_upload(api, upload_id, {"name": "big", "tasks": [{"type": "echo", "payload": {"i": i}} for i in range(3)],
                                "max_concurrency": 2})

    status, body = api.call("POST", "/jobs", {"manifest": {"upload_id": upload_id}})

    assert status == 201, body
    spec = api.manifests.get(body["job_id"])
    assert spec.name == "big" and [t.payload for t in spec.tasks] == [{"i": 0}, {"i": 1}, {"i": 2}]
    job = api.store.get_job(body["job_id"])
    assert job is not None and (job.total, job.max_concurrency, job.tenant) == (3, 2, "acme")


def test_an_upload_id_nothing_was_put_for_is_400(api: Api) -> None:
    upload_id, _ = new_upload(api)
    status, body = api.call("POST", "/jobs", {"manifest": {"upload_id": upload_id}})
    assert status == 400
    assert "upload_id" in error_of(body, "invalid_request")
    assert api.workflow.started == []


def test_another_tenants_upload_is_not_found(api: Api) -> None:
    upload_id, _ = new_upload(api, tenant="globex")
    put_upload(api, upload_id, {"name": "x", "tasks": [{"type": "echo"}]}, tenant="globex")
    status, body = api.call("POST", "/jobs", {"manifest": {"upload_id": upload_id}}, tenant="acme")
    assert status == 400
    assert upload_id in error_of(body, "invalid_request")


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"name": "x", "tasks": [{"payload": {}}]}, "manifest.tasks.0.type"),
        ({"name": "x", "tasks": []}, "manifest.tasks"),
        ({"tasks": [{"type": "echo"}]}, "manifest.name"),
        ({"name": "x", "tasks": [{"type": "echo", "max_attempts": 0}]}, "manifest.tasks.0.max_attempts"),
        (b"{not json", "not valid JSON"),
    ],
)
def test_an_invalid_uploaded_spec_is_400_naming_the_field(api: Api, spec: Any, words: str) -> None:
    upload_id, _ = new_upload(api)
    put_upload(api, upload_id, spec)
    status, body = api.call("POST", "/jobs", {"manifest": {"upload_id": upload_id}})
    assert status == 400
    assert words in error_of(body, "invalid_request")
    assert api.workflow.started == []


def test_an_uploaded_spec_with_an_unknown_task_type_is_400(api: Api) -> None:
    upload_id, _ = new_upload(api)
    put_upload(api, upload_id, {"name": "x", "tasks": [{"type": "echo"}, {"type": "teleport"}]})
    status, body = api.call("POST", "/jobs", {"manifest": {"upload_id": upload_id}})
    assert status == 400
    assert "tasks[1].type" in error_of(body, "invalid_request")


def test_a_malformed_upload_id_is_refused_by_the_schema(api: Api) -> None:
    status, body = api.call("POST", "/jobs", {"manifest": {"upload_id": "../../etc/passwd"}})
    assert status == 422
    assert "upload_id" in error_of(body, "validation_error")


def test_a_task_whose_payload_is_stored_by_reference_shows_the_payload(api: Api) -> None:
    job_id = submit(api)
    ref = api.manifests.put_payload(job_id, task_id_for(0), {"big": "x" * 10})
    write_tasks(api.store, job_id, 1, payload_ref=ref)
    status, body = api.call("GET", f"/jobs/{job_id}/tasks/{task_id_for(0)}")
    assert status == 200
    assert body["payload"] == {"big": "x" * 10}


# --- dead letters -------------------------------------------------------------------------------------


def test_dead_letters_are_grouped_by_fingerprint_for_their_tenant_only(api: Api) -> None:
    job_id = submit(api, tasks=4)
    write_tasks(api.store, job_id, 4)
    fail(api.store, job_id, {0: "ValueError: row 1 is bad", 1: "ValueError: row 22 is bad",
                             2: "ValueError: row 333 is bad", 3: "TimeoutError: gave up"})
    other = submit(api, tenant="globex")
    write_tasks(api.store, other, 1)
    fail(api.store, other, {0: "ValueError: row 5 is bad"}, tenant="globex")

    status, body = api.call("GET", "/dlq")

    assert status == 200
    assert (body["total"], body["truncated"]) == (4, False)
    assert [(g["count"], g["error_class"], g["message"]) for g in body["groups"]] == [
        (3, "ValueError", "row <n> is bad"), (1, "TimeoutError", "gave up"),
    ]
    big = body["groups"][0]
    assert big["job_ids"] == [job_id] and big["task_type"] == "echo"
    assert sorted(big["sample_task_ids"]) == [f"{job_id}/{task_id_for(i)}" for i in range(3)]
    assert api.call("GET", "/dlq", tenant="globex")[1]["total"] == 1
    limited = api.call("GET", "/dlq", query={"limit": "2"})[1]
    assert (limited["total"], limited["truncated"]) == (2, True)


def test_redrive_by_fingerprint_starts_a_run_of_the_chosen_tasks(api: Api) -> None:
    job_id = finished_job(api, {0: OutcomeKind.FAILED, 1: OutcomeKind.FAILED, 2: OutcomeKind.SUCCEEDED})
    groups = api.call("GET", "/dlq")[1]["groups"]
    assert [g["count"] for g in groups] == [2]

    status, body = api.call("POST", "/dlq/redrive", {"fingerprint": groups[0]["fingerprint"], "payload": {"v": 2}})

    assert status == 202
    assert body == {"redriven": 2, "runs": {job_id: 1}, "skipped": []}
    assert api.workflow.started[-1] == (f"{job_id}-run1", {
        "job_id": job_id, "run": 1,
        "rerun": {
            "task_ids": [task_id_for(0), task_id_for(1)], "payload": {"v": 2}, "payload_ref": None, "by": "key:abc"
        },
    })
    # When the run's dispatch step runs, the tasks are reopened and their dead letters leave the view
    queue = RecordingQueue()
    assert dispatch_rerun(job_id, 1, [task_id_for(0), task_id_for(1)], {"v": 2}, "key:abc", api.store,
                          {Runtime.LAMBDA: queue, Runtime.EKS: queue}) == 2
    assert [(m.task_id, m.payload, m.attempt_offset) for m in queue.sent] == [
        (task_id_for(0), {"v": 2}, 1), (task_id_for(1), {"v": 2}, 1),
    ]
    assert api.call("GET", "/dlq")[1] == {"groups": [], "total": 0, "truncated": False}
    job = api.store.get_job(job_id)
    assert job is not None and (job.failed, job.remaining, job.run) == (0, 2, 1)


def test_redrive_skips_a_job_that_is_still_running(api: Api) -> None:
    job_id = submit(api, tasks=1)
    write_tasks(api.store, job_id, 1)
    fail(api.store, job_id, {0: "ValueError: boom"})  # the job has not finished yet
    status, body = api.call("POST", "/dlq/redrive", {"job_id": job_id})
    assert status == 202
    assert body["redriven"] == 0 and body["runs"] == {}
    assert body["skipped"] == [{"job_id": job_id, "task_id": task_id_for(0),
                                "reason": "the job is still PENDING; redrive once it ends"}]
    assert len(api.workflow.started) == 1


@pytest.mark.parametrize(
    ("request_body", "words"),
    [({}, "choose what to redrive"), ({"task_ids": ["t00000000"]}, "give job_id too")],
)
def test_a_redrive_that_chooses_nothing_clearly_is_400(api: Api, request_body: dict[str, Any], words: str) -> None:
    status, body = api.call("POST", "/dlq/redrive", request_body)
    assert status == 400
    assert words in error_of(body, "invalid_request")


def test_another_tenant_cannot_redrive_our_dead_letters(api: Api) -> None:
    job_id = finished_job(api, {0: OutcomeKind.FAILED})
    status, body = api.call("POST", "/dlq/redrive", {"job_id": job_id}, tenant="globex")
    assert (status, body) == (202, {"redriven": 0, "runs": {}, "skipped": []})
    assert len(api.workflow.started) == 1

