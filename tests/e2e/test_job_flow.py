"""A job's whole life through the public API: submit, dispatch, run in both runtimes, finish."""

from __future__ import annotations

import hashlib

from cli.client import TasklaneClient


def sha256_rounds(data: str, rounds: int) -> str:
    digest = data.encode()
    for _ in range(rounds):
        digest = hashlib.sha256(digest).hexdigest().encode()
    return digest.decode()


def test_a_mixed_job_succeeds_in_both_runtimes_with_correct_results(api: TasklaneClient) -> None:
    # Given a job of echo, hash and sleep tasks on the Lambda runner and on the long-task workers
    tasks = [
        {"type": "echo", "payload": {"greeting": "hello", "n": 1}},
        {"type": "echo", "payload": {"n": 2}, "runtime": "eks"},
        {"type": "hash", "payload": {"data": "tasklane", "rounds": 3}},
        {"type": "hash", "payload": {"data": "tasklane", "rounds": 5}, "runtime": "eks"},
        {"type": "sleep", "payload": {"seconds": 0.2}, "runtime": "lambda"},
        {"type": "sleep", "payload": {"seconds": 0.5}},
    ]

    # When it is submitted and runs to its end
    created = api.submit({"name": "mixed", "tasks": tasks})
    job = api.wait(created["job_id"], timeout=180)

    # Then it succeeded, every count is exact and every result is the task's own
    assert job["status"] == "SUCCEEDED"
    assert job["counts"] == {"total": 6, "pending": 0, "running": 0, "succeeded": 6, "failed": 0, "cancelled": 0}
    by_index = {t["index"]: t for t in api.tasks(created["job_id"])}
    assert [by_index[i]["runtime"] for i in range(6)] == ["lambda", "eks", "lambda", "eks", "lambda", "eks"]
    assert by_index[0]["result"] == {"greeting": "hello", "n": 1}
    assert by_index[1]["result"] == {"n": 2}
    assert by_index[2]["result"] == {"sha256": sha256_rounds("tasklane", 3), "rounds": 3}
    assert by_index[3]["result"] == {"sha256": sha256_rounds("tasklane", 5), "rounds": 5}
    assert by_index[4]["result"] == {"slept": 0.2}
    assert by_index[5]["result"] == {"slept": 0.5}
    assert all(t["status"] == "SUCCEEDED" and t["attempts"] == 1 for t in by_index.values())


def test_a_job_with_a_failing_task_ends_failed_with_exact_counts(api: TasklaneClient) -> None:
    # Given a job whose one task always fails, with two attempts allowed
    tasks = [
        {"type": "echo", "payload": {}},
        {"type": "fail", "payload": {"message": "boom"}, "max_attempts": 2},
        {"type": "hash", "payload": {"data": "a"}},
    ]

    # When it runs to its end
    created = api.submit({"name": "with a failure", "tasks": tasks})
    job = api.wait(created["job_id"], timeout=180)

    # Then the job failed, the counts are exact and the failed task shows both attempts and its error
    assert job["status"] == "FAILED"
    assert job["counts"] == {"total": 3, "pending": 0, "running": 0, "succeeded": 2, "failed": 1, "cancelled": 0}
    failed = api.tasks(created["job_id"], status="FAILED")
    assert [t["index"] for t in failed] == [1]
    assert failed[0]["attempts"] == 2
    assert "boom" in failed[0]["error"]
    detail = api.task(created["job_id"], failed[0]["task_id"])
    assert [h["attempt"] for h in detail["history"]] == [1, 2]
    assert [h["status"] for h in detail["history"]] == ["PENDING", "FAILED"]


def test_a_task_that_fails_once_succeeds_on_its_second_attempt(api: TasklaneClient) -> None:
    created = api.submit({"name": "retry", "tasks": [{"type": "fail", "payload": {"fail_times": 1}}]})
    job = api.wait(created["job_id"], timeout=180)
    assert job["status"] == "SUCCEEDED"
    [task] = api.tasks(created["job_id"])
    assert task["attempts"] == 2
    assert task["result"] == {"succeeded_on_attempt": 2}
    assert task["error"] is None
