"""Cancel, retry, timeout and max_concurrency through the public API, on the embedded AWS."""

from __future__ import annotations

import time

import pytest

from cli.client import ApiError, TasklaneClient


def sleeps(count: int, seconds: float, runtime: str = "lambda") -> list[dict]:
    return [{"type": "sleep", "payload": {"seconds": seconds}, "runtime": runtime} for _ in range(count)]


def test_cancel_stops_a_running_job_and_cancels_what_remains(api: TasklaneClient) -> None:
    # Given a job of slow tasks, two at a time
    job_id = api.submit({"name": "to cancel", "tasks": sleeps(20, 1.0), "max_concurrency": 2})["job_id"]
    deadline = time.monotonic() + 60
    while api.job(job_id)["counts"]["succeeded"] < 2 and time.monotonic() < deadline:
        time.sleep(0.3)

    # When it is cancelled
    answer = api.request("POST", f"jobs/{job_id}/cancel")

    # Then the answer says it is stopping, and it ends CANCELLED with every task accounted for exactly once
    assert answer["stopping"] == "cancelled"
    job = api.wait(job_id, timeout=90)
    counts = job["counts"]
    assert job["status"] == "CANCELLED"
    assert counts["pending"] == 0 and counts["running"] == 0
    assert counts["succeeded"] >= 2 and counts["cancelled"] > 0
    assert counts["succeeded"] + counts["failed"] + counts["cancelled"] == 20
    statuses = [t["status"] for t in api.tasks(job_id)]
    assert statuses.count("CANCELLED") == counts["cancelled"]
    assert statuses.count("SUCCEEDED") == counts["succeeded"]


def test_cancelling_a_finished_job_is_a_conflict(api: TasklaneClient) -> None:
    job_id = api.submit({"name": "done", "tasks": [{"type": "echo"}]})["job_id"]
    assert api.wait(job_id, timeout=60)["status"] == "SUCCEEDED"
    with pytest.raises(ApiError) as raised:
        api.request("POST", f"jobs/{job_id}/cancel")
    assert raised.value.status == 409
    assert "already ended SUCCEEDED" in raised.value.message


def test_a_job_past_its_timeout_ends_timed_out(api: TasklaneClient) -> None:
    job_id = api.submit({"name": "too slow", "tasks": sleeps(6, 2.0), "max_concurrency": 1, "timeout_seconds": 3})[
        "job_id"
    ]
    job = api.wait(job_id, timeout=90)
    assert job["status"] == "TIMED_OUT"
    counts = job["counts"]
    assert counts["cancelled"] >= 3
    assert counts["pending"] == 0 and counts["running"] == 0
    assert counts["succeeded"] + counts["cancelled"] == 6


def test_max_concurrency_bounds_the_tasks_in_flight(api: TasklaneClient) -> None:
    # Given long tasks on the workers (2 processes x 4 slots), in a job that allows three at a time; each
    # runs long enough to be claimed RUNNING (after its first second), so that the API can see it
    job_id = api.submit({"name": "windowed", "tasks": sleeps(12, 2.0, "eks"), "max_concurrency": 3})["job_id"]

    # When it runs, sampled through the API
    most_running = 0
    deadline = time.monotonic() + 120
    while (job := api.job(job_id))["status"] not in ("SUCCEEDED", "FAILED") and time.monotonic() < deadline:
        most_running = max(most_running, job["counts"]["running"])
        time.sleep(0.2)

    # Then it succeeds without ever running more than its window, though the workers had room for more
    assert job["counts"]["succeeded"] == 12
    assert 2 <= most_running <= 3


def test_retry_runs_the_failed_tasks_again_as_a_new_run(api: TasklaneClient) -> None:
    # Given a job that failed because one task failed all its attempts
    tasks = [{"type": "echo"}, {"type": "fail", "payload": {"fail_times": 2}, "max_attempts": 2}]
    job_id = api.submit({"name": "retry me", "tasks": tasks})["job_id"]
    assert api.wait(job_id, timeout=90)["status"] == "FAILED"

    # When it is retried (the failed task now gets attempt 3, which succeeds)
    answer = api.request("POST", f"jobs/{job_id}/retry")

    # Then it runs again as run 1 and succeeds, the failed task with its full history
    assert answer["run"] == 1
    job = api.wait(job_id, timeout=90)
    assert job["status"] == "SUCCEEDED"
    assert job["counts"] == {"total": 2, "pending": 0, "running": 0, "succeeded": 2, "failed": 0, "cancelled": 0}
    detail = api.task(job_id, "t00000001")
    assert [h["attempt"] for h in detail["history"]] == [1, 2, 3]
    assert detail["result"] == {"succeeded_on_attempt": 3}
    assert detail["run"] == 1


def test_retrying_a_job_without_failures_is_a_conflict(api: TasklaneClient) -> None:
    job_id = api.submit({"name": "fine", "tasks": [{"type": "echo"}]})["job_id"]
    api.wait(job_id, timeout=60)
    with pytest.raises(ApiError) as raised:
        api.request("POST", f"jobs/{job_id}/retry")
    assert raised.value.status == 409


@pytest.mark.parametrize(("tolerated", "status"), [(10.0, "SUCCEEDED"), (5.0, "FAILED")])
def test_failures_within_the_tolerance_still_succeed(api: TasklaneClient, tolerated: float, status: str) -> None:
    # Given a job of ten tasks, one of which fails for good
    tasks = [{"type": "echo"} for _ in range(9)] + [{"type": "fail", "payload": {}, "max_attempts": 1}]
    job_id = api.submit({"name": "tolerant", "tasks": tasks, "tolerated_failure_percentage": tolerated})["job_id"]

    # Then one failure in ten is within 10 % and beyond 5 %
    job = api.wait(job_id, timeout=90)
    assert job["status"] == status
    assert job["counts"]["failed"] == 1 and job["counts"]["succeeded"] == 9


def test_a_long_task_shows_its_progress_while_it_runs(api: TasklaneClient) -> None:
    # Given a long task on the workers, which reports progress every 5 s
    job_id = api.submit({"name": "progress", "tasks": [{"type": "sleep", "payload": {"seconds": 12}}]})["job_id"]

    # When it is watched through the API
    seen: list[tuple[str, float | None]] = []
    deadline = time.monotonic() + 90
    while (job := api.job(job_id))["status"] not in ("SUCCEEDED", "FAILED") and time.monotonic() < deadline:
        for task in api.tasks(job_id):  # none until dispatch wrote it
            seen.append((task["status"], task["progress"]))
        time.sleep(0.5)

    # Then it was seen RUNNING with progress between 0 and 1, and it ended SUCCEEDED
    assert job["status"] == "SUCCEEDED"
    running = [progress for status, progress in seen if status == "RUNNING" and progress is not None]
    assert running and all(0 < p < 1 for p in running)


def test_a_long_task_past_its_timeout_fails_with_a_timeout(api: TasklaneClient) -> None:
    task = {"type": "sleep", "payload": {"seconds": 60}, "timeout_seconds": 2, "max_attempts": 1}
    started = time.monotonic()
    job_id = api.submit({"name": "task timeout", "tasks": [task]})["job_id"]
    job = api.wait(job_id, timeout=90)
    assert job["status"] == "FAILED"
    assert time.monotonic() - started < 45
    [failed] = api.tasks(job_id)
    assert failed["error"].startswith("TaskTimedOut")
