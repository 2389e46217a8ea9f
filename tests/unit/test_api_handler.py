"""The job API end to end through its Lambda handler, over DynamoDB and S3 on moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_harness import Api
from lambda_events import FakeLambdaContext, api_event

from lambdas.api import handler
from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.jobs import JobServices
from tasklane.models import Job, JobStatus, Runtime, TaskRecord, TaskStatus, task_id_for

JOB_KEYS = {"job_id", "name", "status", "created_at", "updated_at", "counts"}
COUNT_KEYS = {"total", "pending", "running", "succeeded", "failed", "cancelled"}


@pytest.fixture
def services(api: Api) -> JobServices:
    return api.services


def call(method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> tuple[int, Any]:
    response = handler.lambda_handler(api_event(method, path, body, query), FakeLambdaContext())
    headers = {**response.get("headers", {}), **{k: v[0] for k, v in response.get("multiValueHeaders", {}).items()}}
    assert headers["Content-Type"].startswith("application/json"), response
    return response["statusCode"], json.loads(response["body"])


def assert_error(body: Any, code: str | None = None) -> str:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return str(body["error"]["message"])


def submit(tasks: list[dict[str, Any]], **fields: Any) -> str:
    status, body = call("POST", "/jobs", {"name": "nightly", "tasks": tasks, **fields})
    assert status == 201, body
    return str(body["job_id"])


# --- submitting ---------------------------------------------------------------------------------------


def test_post_jobs_creates_the_job(services: JobServices) -> None:
    status, body = call("POST", "/jobs", {"name": "nightly", "tasks": [{"type": "echo", "payload": {"a": 1}},
                                                                        {"type": "sleep"}]})
    assert status == 201
    assert body == {"job_id": "job000", "status": "PENDING"}
    # the job, its manifest and its workflow exist
    assert services.store.get_job("job000") is not None
    spec = services.manifests.get("job000")
    assert [(t.type, t.runtime) for t in spec.tasks] == [("echo", Runtime.LAMBDA), ("sleep", Runtime.EKS)]
    assert services.workflow.started == [  # type: ignore[attr-defined]
        ("job000", {"job_id": "job000", "run": 0, "rerun": None})
    ]


def test_get_job_matches_the_contract(services: JobServices) -> None:
    job_id = submit([{"type": "echo"}, {"type": "echo"}], metadata={"team": "data"})
    status, body = call("GET", f"/jobs/{job_id}")
    assert status == 200
    assert set(body) >= JOB_KEYS
    assert set(body["counts"]) == COUNT_KEYS
    assert body["job_id"] == job_id and body["name"] == "nightly" and body["status"] == "PENDING"
    assert body["counts"] == {"total": 2, "pending": 2, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    assert body["created_at"].endswith("Z") and body["updated_at"].endswith("Z")


def test_get_job_shows_counts_as_tasks_finish(services: JobServices, store: DynamoJobStore) -> None:
    job_id = submit([{"type": "echo"}] * 3)
    write_tasks(store, job_id, 3)
    store.record_outcomes(job_id, [TaskOutcome(job_id, task_id_for(0), 1, OutcomeKind.SUCCEEDED, result={}),
                                   TaskOutcome(job_id, task_id_for(1), 1, OutcomeKind.FAILED, error="E: x")])
    _, body = call("GET", f"/jobs/{job_id}")
    assert body["counts"] == {"total": 3, "pending": 1, "running": 0, "succeeded": 1, "failed": 1, "cancelled": 0}


def test_get_unknown_job_is_404(services: JobServices) -> None:
    status, body = call("GET", "/jobs/no-such-job")
    assert status == 404
    assert "no-such-job" in assert_error(body, "not_found")


def test_another_tenants_job_answers_like_a_missing_one(services: JobServices, store: DynamoJobStore) -> None:
    now = "2026-01-01T00:00:00.000Z"
    store.create_job(Job(job_id="theirs", tenant="globex", name="n", status=JobStatus.PENDING, created_at=now,
                         updated_at=now, total=1, remaining=1))
    status, body = call("GET", "/jobs/theirs")
    assert status == 404
    assert_error(body, "not_found")
    assert call("GET", "/jobs/theirs/tasks")[0] == 404


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        ('{"name": "x", "tasks": [', 422, "not valid JSON"),
        ("not json at all", 422, "not valid JSON"),
        ('{"name": "x"}', 422, "body.tasks"),
        ('{"tasks": [{"type": "echo"}]}', 422, "body.name"),
        ('{"name": "x", "tasks": []}', 422, "at least 1 item"),
        ('{"name": "x", "tasks": "echo"}', 422, "body.tasks"),
        ('{"name": "x", "tasks": [{"type": 5}]}', 422, "body.tasks.0.type"),
        ('{"name": "x", "tasks": [{}]}', 422, "body.tasks.0.type"),
        ('{"name": "x", "tasks": [{"type": "echo", "payload": []}]}', 422, "body.tasks.0.payload"),
        ('{"name": "x", "tasks": [{"type": "echo", "runtime": "mainframe"}]}', 422, "body.tasks.0.runtime"),
        ('{"name": "x", "tasks": [{"type": "echo", "max_attempts": 0}]}', 422, "body.tasks.0.max_attempts"),
        ('{"name": "x", "tasks": [{"type": "echo"}], "tolerated_failure_percentage": 101}', 422,
         "tolerated_failure_percentage"),
        ('{"name": "x", "tasks": [{"type": "teleport"}]}', 400, "unknown task type 'teleport'"),
        ('{"name": "x", "tasks": [{"type": "echo"}, {"type": "teleport"}]}', 400, "tasks[1].type"),
        ('{"name": "x", "tasks": [{"type": "echo"}], "colour": "red"}', 422, "colour"),
        ('{"name": "x", "tasks": [{"type": "echo", "prio": 1}]}', 422, "body.tasks.0.prio"),
        ("[1, 2]", 422, "body"),
    ],
)
def test_bad_job_is_refused_with_a_clear_4xx(services: JobServices, raw: str, status: int, words: str) -> None:
    got, body = call("POST", "/jobs", raw)
    assert got == status, body
    assert words in assert_error(body)
    # and nothing was started
    assert services.workflow.started == []  # type: ignore[attr-defined]


def test_metadata_too_large_to_store_is_422_not_5xx(services: JobServices) -> None:
    # Given metadata bigger than the job's DynamoDB item can hold
    got, body = call("POST", "/jobs", {"name": "x", "tasks": [{"type": "echo"}], "metadata": {"big": "x" * 500_000}})
    # Then the API refuses it, naming the field, instead of failing the write
    assert got == 422
    assert "body.metadata" in assert_error(body, "validation_error")
    assert services.workflow.started == []  # type: ignore[attr-defined]


def test_a_body_that_is_not_json_by_content_type_is_415_in_the_error_shape(services: JobServices) -> None:
    event = api_event("POST", "/jobs", '{"name": "x", "tasks": [{"type": "echo"}]}')
    event["headers"]["content-type"] = "text/plain"
    event["multiValueHeaders"]["content-type"] = ["text/plain"]
    response = handler.lambda_handler(event, FakeLambdaContext())
    assert response["statusCode"] == 415
    assert "application/json" in assert_error(json.loads(response["body"]), "unsupported_media_type")


def test_a_body_without_content_type_is_read_as_json(services: JobServices) -> None:
    event = api_event("POST", "/jobs", '{"name": "x", "tasks": [{"type": "echo"}]}')
    event["headers"] = {}
    event["multiValueHeaders"] = {}
    assert handler.lambda_handler(event, FakeLambdaContext())["statusCode"] == 201


@pytest.mark.parametrize(
    "raw",
    ["null", '"x"', "42", "{}", '{"name": "", "tasks": [{"type": "echo"}]}', '{"name": "x", "tasks": [null]}',
     '{"name": "x", "tasks": [{"type": "echo", "timeout_seconds": -1}]}', '{"name": "x", "tasks": [{"type": ""}]}',
     '{"name": "x", "tasks": [{"type": "echo"}], "metadata": []}', '{"name": 1e999, "tasks": [{"type": "echo"}]}',
     '{"name": "x", "tasks": [{"type": "' + "e" * 65 + '"}]}', '{"name": "x", "tasks": [{"type": "echo"}]} trailing'],
)
def test_no_bad_body_gets_a_5xx(services: JobServices, raw: str) -> None:
    got, body = call("POST", "/jobs", raw)
    assert 400 <= got < 500, body
    assert_error(body)


def test_an_empty_body_is_a_4xx(services: JobServices) -> None:
    got, body = call("POST", "/jobs", None)
    assert 400 <= got < 500
    assert_error(body)


def test_the_unknown_type_error_lists_the_known_types(services: JobServices) -> None:
    _, body = call("POST", "/jobs", {"name": "x", "tasks": [{"type": "teleport"}]})
    assert body["error"]["code"] == "invalid_request"
    assert "echo, fail, hash, sleep" in body["error"]["message"]


@pytest.mark.parametrize(
    ("path", "query"),
    [("/jobs/x/tasks", {"limit": "0"}), ("/jobs/x/tasks", {"limit": "many"}), ("/jobs/x/tasks", {"status": "DONE"}),
     ("/jobs/" + "x" * 65, None)],
)
def test_bad_query_or_path_parameters_are_422(services: JobServices, path: str, query: dict[str, str] | None) -> None:
    got, body = call("GET", path, query=query)
    assert got == 422
    assert_error(body, "validation_error")


def test_a_forged_next_token_is_400(services: JobServices) -> None:
    job_id = submit([{"type": "echo"}])
    got, body = call("GET", f"/jobs/{job_id}/tasks", query={"next_token": "%%%"})
    assert got == 400
    assert "next_token" in assert_error(body, "invalid_request")


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("levels", [61, 200, 5000])
def test_a_body_nested_deeper_than_the_limit_is_422_before_anything_parses_it(
    services: JobServices, levels: int
) -> None:
    # 200 levels used to be accepted, then no dispatcher could read the job; 5,000 crashed the API (502)
    payload = '{"a":' * levels + "{}" + "}" * levels  # written out: json.dumps itself cannot nest 5,000 deep
    got, body = call("POST", "/jobs", '{"name": "deep", "tasks": [{"type": "echo", "payload": ' + payload + "}]}")
    assert got == 422
    assert f"nests {levels + 4} levels deep; at most 64" in assert_error(body, "validation_error")
    assert services.workflow.started == []  # type: ignore[attr-defined]


def test_a_body_at_the_depth_limit_is_accepted_and_its_manifest_reads_back(services: JobServices) -> None:
    job_id = submit([{"type": "echo", "payload": nested(60)}])
    assert services.manifests.get(job_id).tasks[0].payload == nested(60)


def test_a_task_payload_over_the_limit_is_422_naming_the_task(services: JobServices) -> None:
    from lambdas.api.schemas import MAX_TASK_PAYLOAD_BYTES

    huge = {"blob": "x" * MAX_TASK_PAYLOAD_BYTES}
    got, body = call("POST", "/jobs", {"name": "huge", "tasks": [{"type": "echo"}, {"type": "echo", "payload": huge}]})
    assert got == 422
    assert "body.tasks.1.payload" in assert_error(body, "validation_error")
    assert f"at most {MAX_TASK_PAYLOAD_BYTES} are allowed" in body["error"]["message"]


@pytest.mark.parametrize(
    ("task", "words"),
    [
        ({"type": "echo", "timeout_seconds": 101}, "timeout_seconds: a task on the lambda runtime runs at most 100 s"),
        ({"type": "sleep", "timeout_seconds": 3601}, "timeout_seconds: a task on the eks runtime runs at most 3600 s"),
        ({"type": "sleep", "payload": {"seconds": 1e9}}, "payload.seconds: 1e+09 s is longer than a task"),
        ({"type": "hash", "payload": {"rounds": 10**12}}, "payload.rounds must be a non-negative integer of at most"),
    ],
)
def test_an_unbounded_task_is_400(services: JobServices, task: dict[str, Any], words: str) -> None:
    got, body = call("POST", "/jobs", {"name": "greedy", "tasks": [task]})
    assert got == 400
    assert f"tasks[0].{words}" in assert_error(body, "invalid_request")
    assert services.workflow.started == []  # type: ignore[attr-defined]


def test_every_task_states_the_timeout_it_runs_under(services: JobServices) -> None:
    job_id = submit([{"type": "echo"}, {"type": "sleep", "timeout_seconds": 30}])
    assert [t.timeout_seconds for t in services.manifests.get(job_id).tasks] == [60, 30]


def test_a_job_whose_workflow_cannot_start_ends_failed_with_why_and_answers_503_with_retry_after(
    services: JobServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(name: str, execution_input: dict[str, Any]) -> None:
        raise RuntimeError("ThrottlingException: rate exceeded")

    monkeypatch.setattr(services.workflow, "start", refuse)
    response = handler.lambda_handler(api_event("POST", "/jobs", {"name": "n", "tasks": [{"type": "echo"}]}),
                                      FakeLambdaContext())
    headers = {**response.get("headers", {}), **{k: v[0] for k, v in response.get("multiValueHeaders", {}).items()}}
    assert (response["statusCode"], headers.get("Retry-After")) == (503, "5")
    assert "could not start and ended FAILED" in assert_error(json.loads(response["body"]), "unavailable")
    # Before: the job stayed PENDING for ever, with no workflow to move it
    job = services.store.get_job("job000")
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error == "its workflow could not start: RuntimeError: ThrottlingException: rate exceeded"
    _, shown = call("GET", "/jobs/job000")
    assert (shown["status"], shown["error"]) == ("FAILED", job.error)


# --- tasks --------------------------------------------------------------------------------------------


def write_tasks(store: DynamoJobStore, job_id: str, count: int) -> None:
    now = "2026-01-01T00:00:00.000Z"
    store.write_tasks(job_id, [
        TaskRecord(job_id=job_id, task_id=task_id_for(i), index=i, type="echo", runtime=Runtime.LAMBDA,
                   status=TaskStatus.PENDING, payload={"i": i}, created_at=now, updated_at=now)
        for i in range(count)
    ], count)


def test_list_tasks_shape_and_paging(services: JobServices, store: DynamoJobStore) -> None:
    job_id = submit([{"type": "echo"}] * 3)
    write_tasks(store, job_id, 3)
    store.record_outcomes(job_id, [TaskOutcome(job_id, task_id_for(1), 1, OutcomeKind.SUCCEEDED, result={"ok": 1})])

    status, body = call("GET", f"/jobs/{job_id}/tasks", query={"limit": "2"})
    assert status == 200
    assert set(body) == {"items", "next_token"}
    assert [t["task_id"] for t in body["items"]] == [task_id_for(0), task_id_for(1)]
    assert set(body["items"][0]) == {"task_id", "index", "type", "runtime", "status", "attempts", "result", "error",
                                     "progress", "progress_message", "timeout_seconds"}
    # A task stored without a timeout states the one it runs under: its runtime's default
    assert body["items"][0]["timeout_seconds"] == services.timeouts.default_seconds[Runtime.LAMBDA]
    assert body["items"][1]["status"] == "SUCCEEDED" and body["items"][1]["result"] == {"ok": 1}
    assert body["next_token"]

    _, rest = call("GET", f"/jobs/{job_id}/tasks", query={"limit": "2", "next_token": body["next_token"]})
    assert [t["task_id"] for t in rest["items"]] == [task_id_for(2)]
    assert rest["next_token"] is None

    _, done = call("GET", f"/jobs/{job_id}/tasks", query={"status": "SUCCEEDED"})
    assert [t["task_id"] for t in done["items"]] == [task_id_for(1)]


def test_get_one_task_in_detail(services: JobServices, store: DynamoJobStore) -> None:
    job_id = submit([{"type": "echo"}])
    write_tasks(store, job_id, 1)
    store.record_outcomes(job_id, [TaskOutcome(job_id, task_id_for(0), 1, OutcomeKind.RETRY, error="E: flaky")])
    status, body = call("GET", f"/jobs/{job_id}/tasks/{task_id_for(0)}")
    assert status == 200
    assert body["payload"] == {"i": 0}
    assert body["history"] == [{"attempt": 1, "status": "PENDING", "error": "E: flaky",
                                "finished_at": body["history"][0]["finished_at"]}]
    missing_status, missing = call("GET", f"/jobs/{job_id}/tasks/t99999999")
    assert missing_status == 404
    assert_error(missing, "not_found")


def test_list_tasks_of_unknown_job_is_404(services: JobServices) -> None:
    status, body = call("GET", "/jobs/nope/tasks")
    assert status == 404
    assert_error(body, "not_found")


# --- the rest -----------------------------------------------------------------------------------------


def test_health(services: JobServices) -> None:
    assert call("GET", "/health") == (200, {"status": "ok"})


def test_openapi_document_lists_the_job_paths(services: JobServices) -> None:
    status, document = call("GET", "/openapi.json")
    assert status == 200
    assert {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/tasks"} <= set(document["paths"])
    assert "post" in document["paths"]["/jobs"]


def test_the_docs_page_is_served_with_the_same_document_and_its_security_scheme(services: JobServices) -> None:
    response = handler.lambda_handler(api_event("GET", "/docs", None, None), FakeLambdaContext())
    assert response["statusCode"] == 200
    assert "swagger" in response["body"].lower() and "tenantCredentials" in response["body"]
    _, document = call("GET", "/openapi.json")
    assert document["components"]["securitySchemes"]["tenantCredentials"]["name"] == "Authorization"
    assert "/docs" not in document["paths"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/jobs/x"), ("PUT", "/jobs")])
def test_unknown_route_is_404_json(services: JobServices, method: str, path: str) -> None:
    status, body = call(method, path)
    assert status == 404
    assert path in assert_error(body, "no_route")
