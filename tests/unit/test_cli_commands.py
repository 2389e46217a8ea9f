"""jobctl's commands against the in-process fake API: both outputs, the requests they send, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_fakes import FakeApi, Jobctl, form_parts, write_endpoints

from tasklane_sdk import RetryPolicy

HELLO_YAML = """\
name: hello
metadata: {owner: tests, since: 2026-01-01}
tasks:
  - type: echo
    payload: {greeting: hello}
  - type: hash
    payload: {data: x, rounds: 3}
  - type: sleep
    runtime: eks
    payload: {seconds: 1}
"""
MIXED = {"name": "mixed", "tasks": [{"type": "echo", "payload": {"n": 1}}, {"type": "fail", "max_attempts": 2}]}


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def jobctl(api: FakeApi, tmp_path: Path) -> Jobctl:
    return Jobctl(api, write_endpoints(tmp_path / "endpoints.json"))


@pytest.fixture
def yaml_spec(tmp_path: Path) -> Path:
    path = tmp_path / "hello.yaml"
    path.write_text(HELLO_YAML)
    return path


@pytest.fixture
def json_spec(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(MIXED))
    return path


def submitted_bodies(api: FakeApi) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in api.requests if r.method == "POST" and r.url.path.endswith("/jobs")]


def test_submit_yaml_sends_the_spec_as_json_and_prints_the_job(jobctl: Jobctl, api: FakeApi, yaml_spec: Path) -> None:
    result = jobctl("submit", str(yaml_spec))

    assert result.exit_code == 0, result.output
    assert "submitted job job0001 (PENDING)" in result.stdout
    assert "jobctl watch job0001" in result.stdout
    [body] = submitted_bodies(api)
    assert body["name"] == "hello"
    assert body["metadata"] == {"owner": "tests", "since": "2026-01-01"}  # a YAML date arrives as a string
    assert [t["type"] for t in body["tasks"]] == ["echo", "hash", "sleep"]
    assert api.requests[0].headers["authorization"] == "ApiKey tlk_acme"
    assert api.requests[0].headers["idempotency-key"].startswith("sdk-")  # made by the client: a retry is safe


def test_submit_json_with_json_output_prints_the_api_answer(jobctl: Jobctl, api: FakeApi, json_spec: Path) -> None:
    result = jobctl("--output", "json", "submit", str(json_spec))

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"job_id": "job0001", "status": "PENDING"}
    assert submitted_bodies(api) == [MIXED]


def test_output_can_also_follow_the_command(jobctl: Jobctl, json_spec: Path) -> None:
    result = jobctl("submit", str(json_spec), "-o", "json")

    assert json.loads(result.stdout)["job_id"] == "job0001"


def test_idempotency_key_is_sent_and_a_replay_returns_the_same_job(jobctl: Jobctl, api: FakeApi,
                                                                      json_spec: Path) -> None:
    first = jobctl("-o", "json", "submit", str(json_spec), "--idempotency-key", "nightly-42")
    again = jobctl("-o", "json", "submit", str(json_spec), "--idempotency-key", "nightly-42")

    assert json.loads(first.stdout)["job_id"] == json.loads(again.stdout)["job_id"] == "job0001"
    assert [r.headers["idempotency-key"] for r in api.requests] == ["nightly-42", "nightly-42"]
    assert len(api.jobs) == 1


def test_idempotency_conflict_is_one_line_on_stderr_and_exit_3(jobctl: Jobctl, json_spec: Path,
                                                                yaml_spec: Path) -> None:
    jobctl("submit", str(json_spec), "--idempotency-key", "k1")
    result = jobctl("submit", str(yaml_spec), "--idempotency-key", "k1")

    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == "error: Idempotency-Key k1 was used for a different body (HTTP 409 idempotency_conflict)\n"


def test_a_spec_over_5_mb_is_uploaded_then_submitted_by_manifest(jobctl: Jobctl, api: FakeApi,
                                                                 tmp_path: Path) -> None:
    spec = {"name": "big", "tasks": [{"type": "echo", "payload": {"blob": "x" * 1000, "i": i}} for i in range(5500)]}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(spec))
    assert path.stat().st_size > 5 * 1024 * 1024

    result = jobctl("-o", "json", "submit", str(path), "--idempotency-key", "big-1")

    assert result.exit_code == 0, result.output
    upload, post, submit = api.requests
    assert (upload.method, upload.url.path) == ("POST", "/v1/jobs/uploads")
    assert (post.method, post.url.host) == ("POST", "s3.test")
    assert "authorization" not in post.headers  # the API key must not leak to S3
    # the presigned POST's signed fields, then the spec as the form's last part
    parts = form_parts(post)
    assert [name for name, _, _ in parts] == ["key", "Content-Type", "x-amz-algorithm", "policy", "x-amz-signature",
                                              "file"]
    assert parts[-1][2] == "application/json" and json.loads(parts[-1][1]) == spec
    assert json.loads(submit.content) == {"manifest": {"upload_id": f"{1:032x}"}}
    assert submit.headers["idempotency-key"] == "big-1"
    assert len(api.jobs["job0001"].tasks) == 5500


@pytest.fixture
def small_uploads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every spec goes through the upload, so these tests need no 5 MB files."""
    monkeypatch.setattr("cli.main.INLINE_LIMIT_BYTES", 10)


def test_an_uploaded_spec_resubmitted_with_its_key_is_the_same_job(small_uploads: None, jobctl: Jobctl, api: FakeApi,
                                                                   json_spec: Path) -> None:
    first = jobctl("-o", "json", "submit", str(json_spec), "--idempotency-key", "k")
    again = jobctl("-o", "json", "submit", str(json_spec), "--idempotency-key", "k")

    assert json.loads(first.stdout)["job_id"] == json.loads(again.stdout)["job_id"] == "job0001"
    assert len(api.uploads) == 1 and len(api.jobs) == 1


def test_an_uploaded_spec_replayed_after_its_url_expired_is_still_the_same_job(
    small_uploads: None, jobctl: Jobctl, api: FakeApi, json_spec: Path
) -> None:
    first = jobctl("-o", "json", "submit", str(json_spec), "--idempotency-key", "k")
    api.expired_uploads.update(api.uploads)
    again = jobctl("-o", "json", "submit", str(json_spec), "--idempotency-key", "k")

    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["job_id"] == json.loads(first.stdout)["job_id"]


def test_a_different_uploaded_spec_under_the_same_key_is_409(small_uploads: None, jobctl: Jobctl, api: FakeApi,
                                                              json_spec: Path, yaml_spec: Path) -> None:
    jobctl("submit", str(json_spec), "--idempotency-key", "k")
    result = jobctl("submit", str(yaml_spec), "--idempotency-key", "k")

    assert result.exit_code == 3
    assert "(HTTP 409 idempotency_conflict)" in result.stderr
    assert len(api.uploads) == 2 and len(api.jobs) == 1


def test_a_small_spec_is_sent_inline(jobctl: Jobctl, api: FakeApi, json_spec: Path) -> None:
    jobctl("submit", str(json_spec))

    assert [r.url.path for r in api.requests] == ["/v1/jobs"]


@pytest.mark.parametrize("key", [[], ["--idempotency-key", "k"]])
def test_a_failed_upload_is_reported(small_uploads: None, jobctl: Jobctl, api: FakeApi, json_spec: Path,
                                     key: list[str]) -> None:
    api.create_upload = lambda request, tenant: httpx.Response(  # type: ignore[method-assign]
        201, json={"upload_id": "nope", "url": "https://s3.test/manifests/nope", "expires_in": 1})

    result = jobctl("submit", str(json_spec), *key)

    assert result.exit_code == 3
    assert result.stderr.startswith("error: uploading the job spec to S3 failed: <Error><Code>AccessDenied")
    assert api.jobs == {}


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("name: [unclosed", "bad.yaml", "is not valid YAML"),
        ("{not json", "bad.json", "is not valid JSON"),
        ("- just\n- a list\n", "list.yaml", "a job spec is an object with a name and tasks, not list"),
    ],
)
def test_an_unreadable_spec_is_one_line_and_exit_3(jobctl: Jobctl, api: FakeApi, tmp_path: Path, content: str,
                                                   name: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)

    result = jobctl("submit", str(path))

    assert result.exit_code == 3
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert api.requests == []


def test_a_missing_spec_file_is_a_usage_error_with_exit_3(jobctl: Jobctl, tmp_path: Path) -> None:
    result = jobctl("submit", str(tmp_path / "nope.yaml"))

    assert result.exit_code == 3
    assert "does not exist" in result.stderr


def test_api_validation_errors_show_the_api_message(jobctl: Jobctl, tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text('{"name": "empty", "tasks": []}')

    result = jobctl("submit", str(path))

    assert result.exit_code == 3
    assert result.stderr == "error: body.tasks: Field required (HTTP 422 validation_error)\n"


def test_list_shows_the_tenants_jobs_newest_first(jobctl: Jobctl, api: FakeApi) -> None:
    older = api.add_job("older", ["SUCCEEDED"])
    newer = api.add_job("newer", ["FAILED"])
    api.add_job("someone else's", tenant="globex")

    result = jobctl("list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["JOB", "ID", "NAME", "STATUS", "DONE", "FAILED", "CREATED"]
    assert [line.split()[:3] for line in lines[1:]] == [[newer, "newer", "FAILED"], [older, "older", "SUCCEEDED"]]
    assert "someone" not in result.stdout


def test_list_json_is_the_api_page_and_filters_by_status(jobctl: Jobctl, api: FakeApi) -> None:
    api.add_job("ok", ["SUCCEEDED"])
    failed = api.add_job("bad", ["FAILED"])

    result = jobctl("list", "--status", "failed", "-o", "json")

    assert result.exit_code == 0, result.output
    page = json.loads(result.stdout)
    assert [job["job_id"] for job in page["items"]] == [failed]
    assert page["next_token"] is None
    assert api.requests[0].url.params["status"] == "FAILED"


def test_list_pages_with_next_token(jobctl: Jobctl, api: FakeApi) -> None:
    ids = [api.add_job(f"j{i}") for i in range(3)]

    first = jobctl("list", "--limit", "2")
    second = jobctl("list", "--limit", "2", "--next-token", "2")

    assert "more: jobctl list --next-token 2" in first.stdout
    assert ids[0] in second.stdout and ids[0] not in first.stdout


def test_list_with_no_jobs(jobctl: Jobctl) -> None:
    assert jobctl("list").stdout.strip() == "no jobs"


def test_an_unknown_status_is_a_usage_error_with_exit_3(jobctl: Jobctl, api: FakeApi) -> None:
    result = jobctl("list", "--status", "exploded")

    assert result.exit_code == 3
    assert api.requests == []


def test_get_shows_status_and_counts(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job("nightly", task_statuses=["SUCCEEDED", "FAILED", "PENDING", "RUNNING"], statuses=None)

    result = jobctl("get", job)

    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["job", job] in lines
    assert ["status", "SUCCEEDED"] in lines
    assert " ".join(lines[3]) == "tasks 4 total: 1 succeeded, 1 failed, 1 running, 1 pending"


def test_get_shows_a_stopping_job_and_its_run(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job("nightly", statuses=["RUNNING"])
    api.jobs[job].job.update(stopping="cancelled", run=2)

    lines = [" ".join(line.split()) for line in jobctl("get", job).stdout.splitlines()]

    assert "status RUNNING (stopping: cancelled)" in lines
    assert "run 2 (each retry or redrive adds one)" in lines


def test_get_json_is_the_api_job(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job("nightly")

    result = jobctl("-o", "json", "get", job)

    assert json.loads(result.stdout) == api.jobs[job].view()


def test_an_unknown_job_is_the_api_message_and_exit_3(jobctl: Jobctl) -> None:
    result = jobctl("get", "nope")

    assert result.exit_code == 3
    assert result.stderr == "error: job 'nope' was not found (HTTP 404 not_found)\n"


def test_tasks_lists_results_and_errors(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(task_statuses=["SUCCEEDED", "FAILED"])

    result = jobctl("tasks", job)

    assert result.exit_code == 0, result.output
    header, ok, failed = result.stdout.splitlines()
    assert header.split()[:3] == ["#", "TASK", "ID"]
    assert ok.split() == ["0", "t00000000", "echo", "lambda", "SUCCEEDED", "1", '{"i":', "0}"]
    assert failed.split() == ["1", "t00000001", "echo", "lambda", "FAILED", "3", "TaskFailure:", "boom"]


def test_tasks_status_filter_is_case_insensitive_and_json_is_the_api_page(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(task_statuses=["SUCCEEDED", "FAILED", "FAILED"])

    result = jobctl("tasks", job, "--status", "failed", "--limit", "5", "-o", "json")

    page = json.loads(result.stdout)
    assert [t["task_id"] for t in page["items"]] == ["t00000001", "t00000002"]
    assert dict(api.requests[0].url.params) == {"status": "FAILED", "limit": "5"}


def test_tasks_pages_and_all_follows_every_page(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(task_statuses=["SUCCEEDED"] * 5)

    one_page = jobctl("-o", "json", "tasks", job, "--limit", "2")
    every = jobctl("-o", "json", "tasks", job, "--limit", "2", "--all")
    table = jobctl("tasks", job, "--limit", "2")

    assert len(json.loads(one_page.stdout)["items"]) == 2
    assert len(json.loads(every.stdout)["items"]) == 5
    assert f"more: jobctl tasks {job} --next-token 2" in table.stdout


def test_task_shows_payload_and_history(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(task_statuses=["FAILED"])

    table = jobctl("task", job, "t00000000")
    as_json = jobctl("-o", "json", "task", job, "t00000000")

    assert table.exit_code == 0, table.output
    assert ["payload", '{"i":', "0}"] in [line.split() for line in table.stdout.splitlines()]
    assert "history" in table.stdout and "TaskFailure: boom" in table.stdout
    assert json.loads(as_json.stdout)["history"][0]["attempt"] == 1


def test_cancel_a_running_job(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(statuses=["RUNNING"], task_statuses=["SUCCEEDED", "PENDING"])

    result = jobctl("cancel", job)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"job {job} CANCELLED: cancel requested"
    assert api.requests[-1].method == "POST" and api.requests[-1].url.path == f"/v1/jobs/{job}/cancel"


def test_cancel_json_and_a_finished_job_is_409(jobctl: Jobctl, api: FakeApi) -> None:
    running = api.add_job(statuses=["RUNNING"])
    done = api.add_job(statuses=["SUCCEEDED"])

    as_json = jobctl("-o", "json", "cancel", running)
    refused = jobctl("cancel", done)

    assert json.loads(as_json.stdout)["status"] == "CANCELLED"
    assert refused.exit_code == 3
    assert refused.stderr == f"error: job {done} is SUCCEEDED: it can no longer be cancelled (HTTP 409 conflict)\n"


def test_retry_a_failed_job(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(statuses=["FAILED"], task_statuses=["SUCCEEDED", "FAILED"])

    table = jobctl("retry", job)

    assert table.exit_code == 0, table.output
    assert table.stdout.strip() == f"job {job} RUNNING: retrying its failed tasks"
    assert [t["status"] for t in api.jobs[job].tasks] == ["SUCCEEDED", "PENDING"]


def test_retry_json_and_a_job_that_did_not_fail_is_409(jobctl: Jobctl, api: FakeApi) -> None:
    failed = api.add_job(statuses=["FAILED"])
    ok = api.add_job(statuses=["SUCCEEDED"])

    as_json = jobctl("-o", "json", "retry", failed)
    refused = jobctl("retry", ok)

    assert json.loads(as_json.stdout)["job_id"] == failed
    assert refused.exit_code == 3
    assert "only FAILED jobs can be retried (HTTP 409 conflict)" in refused.stderr


DEAD = [
    {"job_id": "job0007", "task_id": "t1", "fingerprint": "f" * 16, "error": "TaskFailure: boom"},
    {"job_id": "job0008", "task_id": "t2", "fingerprint": "f" * 16, "error": "TaskFailure: boom"},
    {"job_id": "job0008", "task_id": "t9", "fingerprint": "e" * 16, "error": "TimeoutError: took too long"},
]


def test_dlq_list_groups_by_fingerprint(jobctl: Jobctl, api: FakeApi) -> None:
    api.dead_letters = [dict(d) for d in DEAD]

    table = jobctl("dlq", "list")
    as_json = jobctl("-o", "json", "dlq", "list", "--limit", "2")

    assert table.exit_code == 0, table.output
    rows = [line.split() for line in table.stdout.splitlines()]
    assert rows[0] == ["FINGERPRINT", "TYPE", "ERROR", "COUNT", "JOBS", "MESSAGE"]
    assert rows[1][:6] == ["f" * 16, "fail", "TaskFailure", "2", "job0007,", "job0008"]
    assert "3 dead tasks in 2 groups; run them again: jobctl dlq redrive --fingerprint FINGERPRINT" in table.stdout
    page = json.loads(as_json.stdout)
    assert (page["total"], page["truncated"], len(page["groups"])) == (2, True, 1)
    assert api.requests[-1].url.params["limit"] == "2"


def test_dlq_list_when_empty(jobctl: Jobctl) -> None:
    assert jobctl("dlq", "list").stdout.strip() == "no dead-lettered tasks"


def test_dlq_redrive_by_fingerprint(jobctl: Jobctl, api: FakeApi) -> None:
    api.dead_letters = [dict(d) for d in DEAD]

    result = jobctl("dlq", "redrive", "--fingerprint", "f" * 16)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "redriven: 2 tasks of job0007 (run 1), job0008 (run 1)"
    assert json.loads(api.requests[-1].content) == {"fingerprint": "f" * 16}
    assert [d["task_id"] for d in api.dead_letters] == ["t9"]


def test_dlq_redrive_tasks_of_a_job_shows_what_was_skipped(jobctl: Jobctl, api: FakeApi) -> None:
    api.dead_letters = [dict(d) for d in DEAD]

    table = jobctl("dlq", "redrive", "--job", "job0008", "--task", "t9", "--task", "t5")
    as_json = jobctl("-o", "json", "dlq", "redrive", "--job", "job0008")

    assert json.loads(api.requests[0].content) == {"job_id": "job0008", "task_ids": ["t9", "t5"]}
    lines = [line.split() for line in table.stdout.splitlines()]
    assert lines[0] == ["redriven:", "1", "tasks", "of", "job0008", "(run", "1)"]
    assert lines[2] == ["job0008", "t5", "not", "dead-lettered"]
    assert json.loads(as_json.stdout) == {"redriven": 1, "runs": {"job0008": 1}, "skipped": []}


@pytest.mark.parametrize("args", [[], ["--task", "t1"]])
def test_dlq_redrive_needs_a_selection(jobctl: Jobctl, api: FakeApi, args: list[str]) -> None:
    result = jobctl("dlq", "redrive", *args)

    assert result.exit_code == 3
    assert api.requests == []


def test_an_unreachable_api_is_one_line_and_exit_3(jobctl: Jobctl, api: FakeApi) -> None:
    api.failures += [httpx.ConnectError("[Errno 111] Connection refused")] * RetryPolicy().attempts

    result = jobctl("get", "job0001")

    assert result.exit_code == 3
    assert len(jobctl.waits) == RetryPolicy().attempts - 1  # retried with backoff before giving up
    assert result.stderr == "error: cannot reach https://api.test/v1/jobs/job0001: [Errno 111] Connection refused\n"


def test_a_non_json_error_answer_is_still_one_line(jobctl: Jobctl, api: FakeApi) -> None:
    api.failures += [httpx.Response(502, text="<html>\n<body>Bad Gateway</body>\n</html>")] * RetryPolicy().attempts

    result = jobctl("list")

    assert result.exit_code == 3
    assert result.stderr == "error: <html> <body>Bad Gateway</body> </html> (HTTP 502 http_error)\n"


def test_help_documents_the_exit_codes(jobctl: Jobctl) -> None:
    result = jobctl("--help", target=False)

    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for line in ("0 success", "1 the job FAILED", "2 the job was CANCELLED or TIMED_OUT", "3 a usage error"):
        assert line in text
    for command in ("submit", "watch", "list", "get", "tasks", "cancel", "retry", "dlq"):
        assert command in text


def test_an_unknown_command_exits_3(jobctl: Jobctl) -> None:
    assert jobctl("explode").exit_code == 3
