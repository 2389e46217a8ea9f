"""Dead letters: poison tasks and unreadable messages end in /dlq, grouped; redrive after a fix succeeds."""

from __future__ import annotations

import time
from typing import Any

from cli.client import TasklaneClient


def groups_for(api: TasklaneClient, job_id: str) -> list[dict]:
    return [g for g in api.request("GET", "dlq")["groups"] if job_id in g["job_ids"]]


def test_a_poison_task_is_dead_lettered_and_redriven_after_a_fix(api: TasklaneClient) -> None:
    # Given a job of good tasks and two poison ones that always fail the same way
    tasks = [{"type": "echo", "payload": {"n": i}} for i in range(8)]
    tasks += [{"type": "fail", "payload": {"message": f"bad input {i}"}, "max_attempts": 2} for i in (101, 202)]
    job_id = api.submit({"name": "poisoned", "tasks": tasks})["job_id"]

    # When it ends
    job = api.wait(job_id, timeout=120)

    # Then the rest of the job was unaffected, and the poison tasks are one dead-letter group
    assert job["status"] == "FAILED"
    assert job["counts"]["succeeded"] == 8 and job["counts"]["failed"] == 2
    [group] = groups_for(api, job_id)
    assert group["count"] == 2 and group["task_type"] == "fail" and group["error_class"] == "TaskFailure"
    assert "bad input <n>" in group["message"]

    # When the group is redriven with a fixed payload
    answer = api.request("POST", "dlq/redrive", json={"fingerprint": group["fingerprint"], "job_id": job_id,
                                                       "payload": {"fail_times": 0}})
    assert answer["redriven"] == 2 and answer["runs"] == {job_id: 1}

    # Then the job runs again and succeeds; the dead letters are gone; the tasks say who redrove them
    job = api.wait(job_id, timeout=120)
    assert job["status"] == "SUCCEEDED"
    assert job["counts"]["succeeded"] == 10 and job["counts"]["failed"] == 0
    assert groups_for(api, job_id) == []
    detail = api.task(job_id, "t00000008")
    assert detail["redriven_by"].startswith("key:") and detail["redriven_at"]
    assert detail["payload"] == {"fail_times": 0}


def test_an_unreadable_message_reaches_the_dead_letter_view(api: TasklaneClient, endpoints: dict, aws: Any) -> None:
    # Given a running job, and a message on its queue that is not even JSON, traced to one of its tasks
    job_id = api.submit({"name": "corrupted", "tasks": [{"type": "sleep", "payload": {"seconds": 1}}]})["job_id"]
    aws("sqs").send_message(
        QueueUrl=endpoints["short_queue_url"],
        MessageBody="{not json",
        MessageAttributes={
            "tenant": {"DataType": "String", "StringValue": "acme"},
            "job_id": {"DataType": "String", "StringValue": job_id},
            "task_id": {"DataType": "String", "StringValue": "t00000000"},
        },
    )

    # Then the job itself is unaffected, and after SQS gives up on the message it is in /dlq, body kept
    assert api.wait(job_id, timeout=120)["status"] == "SUCCEEDED"
    deadline = time.monotonic() + 180
    while not (found := groups_for(api, job_id)) and time.monotonic() < deadline:
        time.sleep(1)
    [group] = found
    assert group["error_class"] == "UnreadableMessage"
    assert "not JSON" in group["message"]
    assert group["count"] == 1
