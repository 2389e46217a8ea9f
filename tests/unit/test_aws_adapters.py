"""The thin S3, SQS and Step Functions adapters on moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fakes import Spy

from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.aws.sqs_queue import MAX_DELAY_SECONDS, MAX_VISIBILITY_SECONDS, QueueSendFailed, SqsTaskQueue
from tasklane.aws.stepfunctions import StepFunctionsResumer, StepFunctionsStarter
from tasklane.models import JobSpec, Runtime, TaskBundle, TaskMessage, TaskSpec, tasks_in

ROLE = "arn:aws:iam::123456789012:role/sfn"
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


def test_manifest_round_trips(manifests: S3ManifestStore, s3: Any) -> None:
    spec = JobSpec(name="n", tasks=[TaskSpec(type="echo", payload={"a": [1, 2]}, runtime=Runtime.EKS, max_attempts=5)],
                   metadata={"k": "v"}, tolerated_failure_percentage=2.5)
    manifests.put("job1", spec)
    assert manifests.get("job1") == spec
    head = s3.head_object(Bucket=manifests.bucket, Key="manifests/job1.json")
    assert head["ContentType"] == "application/json"


def test_send_batches_by_ten_and_every_message_arrives(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    spy = Spy(sqs)
    messages = [TaskMessage(job_id="j", task_id=f"t{i:08d}", type="echo", payload={"i": i}) for i in range(23)]
    SqsTaskQueue(url, spy).send(messages)
    assert [len(call["Entries"]) for call in spy.named("send_message_batch")] == [10, 10, 3]
    received = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        received += [TaskMessage.model_validate_json(m["Body"]) for m in got]
    assert sorted(m.task_id for m in received) == [m.task_id for m in messages]


def _receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    received = []
    while got := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages"):
        received += got
    return received


def test_short_tasks_travel_ten_to_a_message_and_every_task_arrives_once(sqs: Any) -> None:
    # Given 205 tasks of one job and 3 of another, sent together to a queue that bundles by ten
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    spy = Spy(sqs)
    messages = [TaskMessage(job_id="j", task_id=f"t{i:08d}", type="echo", payload={"i": i}) for i in range(205)]
    messages += [TaskMessage(job_id="k", task_id=f"t{i:08d}", type="echo") for i in range(3)]
    # When
    SqsTaskQueue(url, spy, bundle_size=10).send(messages)
    # Then 22 messages (20 full bundles, the job's last 5, the other job's 3) in 3 batch sends
    assert sorted(len(call["Entries"]) for call in spy.named("send_message_batch")) == [2, 10, 10]
    received = _receive_all(sqs, url)
    tasks = [t for m in received for t in tasks_in(m["Body"])]
    assert sorted((t.job_id, t.task_id) for t in tasks) == sorted((m.job_id, m.task_id) for m in messages)
    assert {tuple({t.job_id for t in tasks_in(m["Body"])}) for m in received} == {("j",), ("k",)}
    routing = {m["MessageAttributes"]["task_id"]["StringValue"] for m in received}
    assert "t00000000..t00000009" in routing and "t00000200..t00000204" in routing


def test_a_bundle_stays_under_the_message_size_limit(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    big = {"blob": "x" * 60_000}  # just under the 64 KiB inline payload limit
    messages = [TaskMessage(job_id="j", task_id=f"t{i}", type="echo", payload=big) for i in range(10)]
    SqsTaskQueue(url, sqs, bundle_size=10).send(messages)
    received = _receive_all(sqs, url)
    assert len(received) == 4  # three tasks fit in 200 KiB
    assert max(len(m["Body"].encode()) for m in received) < 256 * 1024
    assert sum(len(tasks_in(m["Body"])) for m in received) == 10


def test_a_bundle_is_sized_in_bytes_for_payloads_that_are_not_ascii(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    wide = {"text": "é" * 30_000}  # 30,000 characters, 60,000 bytes
    messages = [TaskMessage(job_id="j", task_id=f"t{i}", type="echo", payload=wide) for i in range(10)]
    SqsTaskQueue(url, sqs, bundle_size=10).send(messages)
    received = _receive_all(sqs, url)
    assert len(received) == 4  # three tasks fit in 200 KiB
    assert max(len(m["Body"].encode()) for m in received) < 256 * 1024


def test_a_bundle_body_is_the_bundle_models_json(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    messages = [TaskMessage(job_id="j", task_id=f"t{i}", type="echo", payload={"i": i, "s": "ü"}) for i in range(3)]
    SqsTaskQueue(url, sqs, bundle_size=10).send(messages)
    (received,) = _receive_all(sqs, url)
    assert received["Body"] == TaskBundle(tasks=messages).model_dump_json()


@pytest.mark.parametrize(("delay", "expected"), [(2.4, 3), (-1, 0), (10**6, MAX_DELAY_SECONDS)])
def test_send_later_sends_one_task_delayed_within_sqs_limits(sqs: Any, delay: float, expected: int) -> None:
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    spy = Spy(sqs)
    message = TaskMessage(job_id="j", task_id="t1", type="echo", earlier_receives=2)
    SqsTaskQueue(url, spy, bundle_size=10).send_later(message, delay)
    (call,) = spy.named("send_message")
    assert call["DelaySeconds"] == expected
    assert TaskMessage.model_validate_json(call["MessageBody"]) == message


class PartlyFailingSqs:
    """Fails entry "1" of each batch `failures` times, then accepts it."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[list[str]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append([e["Id"] for e in Entries])
        if self.failures and any(e["Id"] == "1" for e in Entries):
            self.failures -= 1
            return {"Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError"}]}
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def test_send_resends_only_the_failed_entries() -> None:
    sqs = PartlyFailingSqs(failures=2)
    messages = [TaskMessage(job_id="j", task_id=f"t{i}", type="echo", payload={}) for i in range(3)]
    SqsTaskQueue("url", sqs).send(messages)
    assert sqs.calls == [["0", "1", "2"], ["1"], ["1"]]


def test_send_gives_up_after_five_rounds() -> None:
    with pytest.raises(QueueSendFailed):
        SqsTaskQueue("url", PartlyFailingSqs(failures=99)).send(
            [TaskMessage(job_id="j", task_id=f"t{i}", type="echo", payload={}) for i in range(2)]
        )


class RecordingSqs:
    def __init__(self) -> None:
        self.visibility: list[int] = []

    def change_message_visibility(self, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> None:
        self.visibility.append(VisibilityTimeout)


# Rounded up: a retry never comes sooner than its backoff asked.
@pytest.mark.parametrize(
    ("delay", "expected"), [(2.0, 2), (2.4, 3), (2.6, 3), (-3, 0), (10**9, MAX_VISIBILITY_SECONDS)]
)
def test_retry_later_keeps_the_delay_within_sqs_limits(delay: float, expected: int) -> None:
    sqs = RecordingSqs()
    SqsTaskQueue("url", sqs).retry_later("rh", delay)
    assert sqs.visibility == [expected]


def test_retry_later_hides_a_received_message(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    handle = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]["ReceiptHandle"]
    SqsTaskQueue(url, sqs).retry_later(handle, 300)
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None


def test_starting_the_same_jobs_workflow_twice_starts_one_execution(sfn: Any) -> None:
    arn = sfn.create_state_machine(name="jobs", definition=DEFINITION, roleArn=ROLE)["stateMachineArn"]
    starter = StepFunctionsStarter(arn, sfn)
    starter.start("job1", {"job_id": "job1"})
    starter.start("job1", {"job_id": "job1"})  # a retried API call: no error
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in executions] == ["job1"]
    detail = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(detail["input"]) == {"job_id": "job1"}


class RefusingSfn:
    """Step Functions answering SendTaskSuccess with an error code (moto accepts any token)."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.exceptions = _Exceptions()

    def send_task_success(self, **kwargs: Any) -> None:
        error = {"Error": {"Code": self.code, "Message": "no"}}
        raise {"TaskTimedOut": self.exceptions.TaskTimedOut, "InvalidToken": self.exceptions.InvalidToken}.get(
            self.code, ClientError
        )(error, "SendTaskSuccess")


class _Exceptions:
    class TaskTimedOut(ClientError):
        pass

    class InvalidToken(ClientError):
        pass


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken"])
def test_resuming_an_execution_that_no_longer_waits_is_not_an_error(code: str) -> None:
    StepFunctionsResumer(RefusingSfn(code)).resume("tok", {"job_id": "j"})


def test_other_step_functions_errors_propagate() -> None:
    with pytest.raises(ClientError):
        StepFunctionsResumer(RefusingSfn("ThrottlingException")).resume("tok", {"job_id": "j"})
