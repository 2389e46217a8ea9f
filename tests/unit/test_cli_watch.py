"""jobctl watch and submit --watch: exit codes by final status, progress output, rate and ETA, flaky polls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from cli_fakes import FakeApi, Jobctl, write_endpoints

from cli.client import TasklaneClient
from cli.watch import RateMeter, poll_job
from tasklane_sdk import RetryPolicy


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def jobctl(api: FakeApi, tmp_path: Path) -> Jobctl:
    return Jobctl(api, write_endpoints(tmp_path / "endpoints.json"))


@pytest.mark.parametrize(
    ("final", "code"), [("SUCCEEDED", 0), ("FAILED", 1), ("CANCELLED", 2), ("TIMED_OUT", 2)]
)
def test_watch_exits_with_the_code_of_the_final_status(jobctl: Jobctl, api: FakeApi, final: str, code: int) -> None:
    job = api.add_job(statuses=["PENDING", "RUNNING", "RUNNING", final], task_statuses=["SUCCEEDED"] * 4)

    result = jobctl("watch", job, "--interval", "0")

    assert result.exit_code == code, result.output
    assert f"job {job} {final}" in result.stdout
    assert len([r for r in api.requests if r.url.path.endswith(job)]) == 4


@pytest.mark.parametrize(
    ("final", "code"), [("SUCCEEDED", 0), ("FAILED", 1), ("CANCELLED", 2), ("TIMED_OUT", 2)]
)
def test_watch_json_prints_only_the_final_job(jobctl: Jobctl, api: FakeApi, final: str, code: int) -> None:
    job = api.add_job(statuses=["RUNNING", final])

    result = jobctl("-o", "json", "watch", job, "--interval", "0")

    assert result.exit_code == code
    assert json.loads(result.stdout)["status"] == final


def test_watch_logs_a_line_per_change_when_not_on_a_terminal(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(statuses=["PENDING", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"],
                      task_statuses=["SUCCEEDED"] * 8)

    result = jobctl("watch", job, "--interval", "0")

    lines = result.stdout.splitlines()
    assert lines[0] == "PENDING 0/8 done: 0 succeeded, 0 failed, 0 running, 8 pending; - tasks/s, ETA -"
    assert re.fullmatch(r"RUNNING 3/8 done: 3 succeeded, 0 failed, 1 running, 4 pending; [\d.]+ tasks/s, ETA \S+",
                        lines[2])
    assert lines[-2].startswith("SUCCEEDED 8/8 done: 8 succeeded")
    assert lines[-1].startswith(f"job {job} SUCCEEDED in 0s: 8 succeeded, 0 failed")


def test_watch_draws_a_live_progress_bar_on_a_terminal(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(statuses=["RUNNING", "RUNNING", "FAILED"], task_statuses=["SUCCEEDED"] * 6)

    result = jobctl("watch", job, "--interval", "0", env={"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"})

    assert result.exit_code == 1
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stdout)
    assert "━" in text  # the bar
    assert "6/6" in text and "tasks/s" in text and "ETA" in text
    assert "5 succeeded, 1 failed, 0 running, 0 pending" in text
    assert f"see them: jobctl tasks {job} --status failed; re-run them: jobctl retry {job}" in text


def test_submit_watch_follows_the_new_job_to_its_end(jobctl: Jobctl, api: FakeApi, tmp_path: Path) -> None:
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"name": "n", "tasks": [{"type": "echo"}, {"type": "fail"}]}))
    api.get_job = lambda request, tenant, job_id: httpx.Response(  # type: ignore[method-assign]
        200, json={**api.jobs[job_id].view(), "status": "FAILED"})

    table = jobctl("submit", str(spec), "--watch", "--interval", "0")
    as_json = jobctl("-o", "json", "submit", str(spec), "-w", "--interval", "0")

    assert table.exit_code == as_json.exit_code == 1
    assert table.stdout.startswith("submitted job job0001 (PENDING)\n")
    assert json.loads(as_json.stdout)["job_id"] == "job0002"  # one JSON document: the final job


def test_retry_watch_follows_the_job_again(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(statuses=["FAILED"])

    def retried(request: httpx.Request, tenant: str, job_id: str) -> httpx.Response:
        found = api.jobs[job_id]
        counts = found.view()["counts"]
        found.script = [("RUNNING", counts), ("SUCCEEDED", counts)]
        return httpx.Response(202, json={**found.view(), "status": "RUNNING"})

    api.retry = retried  # type: ignore[method-assign]

    result = jobctl("retry", job, "--watch", "--interval", "0")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"job {job} RUNNING: retrying its failed tasks\n")


def test_watch_rides_out_a_few_network_and_5xx_failures(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(statuses=["RUNNING", "SUCCEEDED"])
    api.failures += [httpx.ConnectTimeout("timed out"), httpx.Response(503, json={"message": "Service Unavailable"}),
                     httpx.Response(429, text="slow down")]

    result = jobctl("watch", job, "--interval", "0")

    assert result.exit_code == 0, result.output


def test_watch_gives_up_after_five_failures_in_a_row(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(statuses=["RUNNING", "SUCCEEDED"])
    # five polls, each of them retried by the client as often as its policy allows
    api.failures += [httpx.ConnectError("connection refused")] * 5 * RetryPolicy().attempts

    result = jobctl("watch", job, "--interval", "0")

    assert result.exit_code == 3
    assert result.stderr == f"error: cannot reach https://api.test/v1/jobs/{job}: connection refused\n"


def test_watch_of_an_unknown_job_exits_3_at_once(jobctl: Jobctl, api: FakeApi) -> None:
    result = jobctl("watch", "nope", "--interval", "0")

    assert result.exit_code == 3
    assert len(api.requests) == 1
    assert result.stderr == "error: job 'nope' was not found (HTTP 404 not_found)\n"


def test_watch_timeout_exits_3_and_says_how_to_resume(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(statuses=["RUNNING"])

    result = jobctl("watch", job, "--interval", "0.01", "--timeout", "0.05")

    assert result.exit_code == 3
    assert result.stderr == f"error: job {job} is not finished after 0.05s; it goes on: jobctl watch {job}\n"


def test_poll_job_reports_every_poll_and_sleeps_between(api: FakeApi) -> None:
    job = api.add_job(statuses=["PENDING", "RUNNING", "SUCCEEDED"])
    client = TasklaneClient("https://api.test/v1", {"Authorization": "ApiKey tlk_acme"}, transport=api.transport)
    seen: list[str] = []
    sleeps: list[float] = []

    final = poll_job(client, job, lambda j: seen.append(j["status"]), interval=2.5, sleep=sleeps.append)

    assert final["status"] == "SUCCEEDED"
    assert seen == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert sleeps == [2.5, 2.5]


def test_rate_meter_measures_over_a_sliding_window() -> None:
    meter = RateMeter(window_seconds=10)
    assert meter.rate is None and meter.eta(100) is None

    meter.add(0.0, 0)
    meter.add(5.0, 50)
    assert meter.rate == 10.0
    assert meter.eta(100) == 10.0

    meter.add(20.0, 60)  # the window now starts at the sample of t=5
    meter.add(25.0, 60)
    assert meter.rate == 0.5
    meter.add(40.0, 60)  # nothing finished in the last 10 s
    assert meter.rate == 0.0
    assert meter.eta(40) is None
    assert meter.eta(0) == 0.0


def test_ctrl_c_stops_watching_but_not_the_job(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(statuses=["RUNNING"])
    api.failures.append(KeyboardInterrupt())

    result = jobctl("watch", job)

    assert result.exit_code == 130
    assert result.stderr == f"stopped watching; the job goes on: jobctl watch {job}\n"
