"""The live-updates adapters: the connections table (moto), the @connections pusher, stream records."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tasklane.aws.dynamo_items import job_items, task_item
from tasklane.aws.live_connections import DynamoConnectionStore
from tasklane.aws.live_push import ApiGatewayPusher
from tasklane.aws.live_streams import job_changes
from tasklane.live import ALL_JOBS, Connection
from tasklane.live_settings import LiveSettings
from tasklane.models import Job, JobStatus, Runtime, TaskRecord, TaskStatus

CONNECTIONS = "tasklane-connections-test"
FAR = 4_000_000_000


@pytest.fixture
def connections(ddb: Any) -> DynamoConnectionStore:
    ddb.create_table(
        TableName=CONNECTIONS,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
    )
    return DynamoConnectionStore(CONNECTIONS, ddb)


def test_connections_subscriptions_and_their_removal(connections: DynamoConnectionStore, ddb: Any) -> None:
    a1, a2 = Connection("a1=", "acme", "key:1"), Connection("a2=", "acme", "user:2")
    g1 = Connection("g1=", "globex", "x")
    for c in (a1, a2, g1):
        connections.add_connection(c, FAR)
    assert connections.connection("a1=") == a1
    assert connections.subscribe(a1, "j1", FAR, limit=2)
    assert connections.subscribe(a1, ALL_JOBS, FAR, limit=2)
    assert connections.subscribe(a1, "j1", FAR, limit=2)  # again: already held, not one more
    assert not connections.subscribe(a1, "j2", FAR, limit=2)
    assert connections.subscribe(a2, "j1", FAR, limit=2)
    assert connections.subscribe(g1, ALL_JOBS, FAR, limit=2)
    assert connections.subscribers("acme") == {"j1": {"a1=", "a2="}, ALL_JOBS: {"a1="}}
    assert connections.subscribers("globex") == {ALL_JOBS: {"g1="}}
    # a tenant's open connections, with the subject (key) that opened each
    assert sorted(connections.tenant_connections("acme"), key=lambda c: c.connection_id) == [a1, a2]
    assert connections.tenant_connections("globex") == [g1]

    connections.unsubscribe(a2, "j1")
    connections.remove_connection("a1=")
    assert connections.subscribers("acme") == {}
    assert connections.connection("a1=") is None
    connections.remove_connection("a1=")  # twice: nothing left, no error
    # only a2's connection item and globex's items remain
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in ddb.scan(TableName=CONNECTIONS)["Items"]}
    assert keys == {
        ("CONN#a2=", "CONN"), ("TENANT#acme", "CONN#a2="),
        ("CONN#g1=", "CONN"), ("TENANT#globex", "CONN#g1="), ("TENANT#globex", "SUB#*#g1="),
    }
    assert connections.tenant_connections("acme") == [a2]


def test_expired_connections_do_not_count(connections: DynamoConnectionStore) -> None:
    connections.add_connection(Connection("old=", "acme", "x"), expires_at=1)
    assert connections.tenant_connections("acme") == []


def test_expired_subscriptions_are_not_subscribers(connections: DynamoConnectionStore) -> None:
    c = Connection("c=", "acme", "x")
    connections.add_connection(c, FAR)
    connections.subscribe(c, "j1", expires_at=1, limit=5)
    assert connections.subscribers("acme") == {}


def test_sequences_advance_one_by_one_and_remember_the_digest(connections: DynamoConnectionStore) -> None:
    assert connections.sequences(["j1", "j2"]) == {}
    assert [connections.advance("j1", f"d{i}", FAR) for i in range(3)] == [1, 2, 3]
    connections.advance("j2", "x", FAR)
    states = connections.sequences(["j1", "j2", "j3", "j1"])
    assert {k: (v.seq, v.digest) for k, v in states.items()} == {"j1": (3, "d2"), "j2": (1, "x")}


class FakeManagementApi:
    def __init__(self, error: str | None = None, status: int = 400) -> None:
        self.error, self.status = error, status
        self.posts: list[tuple[str, bytes]] = []

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:
        if self.error:
            raise ClientError(
                {"Error": {"Code": self.error, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": self.status}},
                "PostToConnection",
            )
        self.posts.append((ConnectionId, Data))

    def delete_connection(self, ConnectionId: str) -> None:
        self.post_to_connection(ConnectionId, b"")


@pytest.mark.parametrize(("error", "status"), [(None, 200), ("GoneException", 410)])
def test_closing_a_connection_that_is_open_or_already_gone_succeeds(error: str | None, status: int) -> None:
    api = FakeManagementApi(error, status)
    ApiGatewayPusher("http://x", api).close("c=")
    assert api.posts == ([("c=", b"")] if error is None else [])


def test_a_close_that_fails_otherwise_is_raised() -> None:
    with pytest.raises(ClientError):
        ApiGatewayPusher("http://x", FakeManagementApi("LimitExceededException", 429)).close("c=")


@pytest.mark.parametrize(
    ("error", "status", "delivered"),
    [(None, 200, True), ("GoneException", 410, False), ("410", 410, False), ("LimitExceededException", 429, True)],
)
def test_pusher_reports_only_gone_connections(error: str | None, status: int, delivered: bool) -> None:
    api = FakeManagementApi(error, status)
    assert ApiGatewayPusher("http://x", api).post("c=", b"{}") is delivered


def test_management_endpoint_is_the_emulators_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"TABLE_NAME": "t", "CONNECTIONS_TABLE_NAME": "c", "WS_API_ID": "abc", "WS_STAGE": "live",
           "WS_CALLBACK_URL": "https://abc.execute-api.us-east-1.amazonaws.com/live"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert LiveSettings().management_endpoint == "https://abc.execute-api.us-east-1.amazonaws.com/live"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566/")
    assert LiveSettings().management_endpoint == "http://127.0.0.1:4566/_aws/execute-api/abc/live"


def _record(event: str, image: dict[str, Any] | None, seq: str) -> dict[str, Any]:
    stream: dict[str, Any] = {"Keys": {k: image[k] for k in ("pk", "sk")} if image else {}, "SequenceNumber": seq}
    if image:
        stream["NewImage"] = image
    return {"eventName": event, "dynamodb": stream}


def test_stream_records_become_one_change_per_job_read_whole() -> None:
    # Given a batch with a job's head, its task, a removal, a counter shard's update, and another job's head
    j = Job(job_id="j1", tenant="acme", name="n", status=JobStatus.RUNNING, created_at="t", updated_at="t",
            total=3, remaining=3)
    other = j.model_copy(update={"job_id": "j2"})
    t = TaskRecord(job_id="j1", task_id="t00000000", index=0, type="echo", runtime=Runtime.LAMBDA,
                   status=TaskStatus.PENDING, created_at="t", updated_at="t")
    head, _meta, counter = job_items(j)
    records = [
        _record("INSERT", head, "100"),
        _record("MODIFY", task_item(t, 1), "101"),
        _record("REMOVE", None, "102"),
        _record("MODIFY", {**counter, "succeeded": {"N": "2"}}, "103"),
        _record("MODIFY", job_items(other)[0], "104"),
    ]
    reads: list[str] = []

    def read_job(job_id: str) -> Job | None:
        reads.append(job_id)
        return {"j1": j.model_copy(update={"succeeded": 2}), "j2": None}[job_id]

    changes = job_changes(records, read_job)
    # Then each job is read once, whole (its counts are spread over shards), with its newest sequence;
    # a job gone meanwhile is skipped
    assert reads == ["j1", "j2"]
    assert [(c.stream_sequence, c.job.job_id, c.job.succeeded) for c in changes] == [("103", "j1", 2)]
