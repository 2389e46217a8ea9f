"""Live updates: coalescing, throttling, sequences, resuming and tenant isolation (tasklane/live.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from lambdas.live.views import job_view
from tasklane.live import (
    ALL_JOBS,
    Connection,
    JobChange,
    Publisher,
    SequenceState,
    Subscriptions,
    close_connections_of,
    digest_of,
    latest_per_job,
)
from tasklane.models import Job, JobStatus, StopReason
from tasklane.ports import JobPage


def job(job_id: str = "j1", tenant: str = "acme", status: JobStatus = JobStatus.RUNNING, done: int = 0,
        **extra: Any) -> Job:
    return Job(job_id=job_id, tenant=tenant, name=job_id, status=status, created_at="2026-01-01T00:00:00.000Z",
               updated_at=f"2026-01-01T00:00:{done:02d}.000Z", total=100, remaining=100 - done, succeeded=done,
               **extra)


def change(j: Job, seq: int) -> JobChange:
    return JobChange(job=j, stream_sequence=str(seq))


@dataclass
class FakeConnections:
    """The ConnectionStore port in memory."""

    connections: dict[str, Connection] = field(default_factory=dict)
    subs: dict[str, set[str]] = field(default_factory=dict)  # connection id -> job ids / ALL_JOBS
    seqs: dict[str, SequenceState] = field(default_factory=dict)
    advanced: list[str] = field(default_factory=list)

    def add_connection(self, connection: Connection, expires_at: int) -> None:
        self.connections[connection.connection_id] = connection
        self.subs[connection.connection_id] = set()

    def connection(self, connection_id: str) -> Connection | None:
        return self.connections.get(connection_id)

    def remove_connection(self, connection_id: str) -> None:
        self.connections.pop(connection_id, None)
        self.subs.pop(connection_id, None)

    def subscribe(self, connection: Connection, job_id: str, expires_at: int, limit: int) -> bool:
        held = self.subs[connection.connection_id]
        if job_id not in held and len(held) >= limit:
            return False
        held.add(job_id)
        return True

    def unsubscribe(self, connection: Connection, job_id: str) -> None:
        self.subs.get(connection.connection_id, set()).discard(job_id)

    def subscribers(self, tenant: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for connection_id, job_ids in self.subs.items():
            if self.connections[connection_id].tenant == tenant:
                for job_id in job_ids:
                    found.setdefault(job_id, set()).add(connection_id)
        return found

    def advance(self, job_id: str, digest: str, expires_at: int) -> int:
        self.advanced.append(job_id)
        seq = self.seqs[job_id].seq + 1 if job_id in self.seqs else 1
        self.seqs[job_id] = SequenceState(seq, digest)
        return seq

    def sequences(self, job_ids: list[str]) -> dict[str, SequenceState]:
        return {j: self.seqs[j] for j in job_ids if j in self.seqs}

    def tenant_connections(self, tenant: str) -> list[Connection]:
        return [c for c in self.connections.values() if c.tenant == tenant]


@dataclass
class FakePusher:
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)

    def post(self, connection_id: str, data: bytes) -> bool:
        if connection_id in self.gone:
            return False
        self.sent.append((connection_id, json.loads(data)))
        return True

    closed: list[str] = field(default_factory=list)

    def close(self, connection_id: str) -> None:
        self.closed.append(connection_id)

    def to(self, connection_id: str) -> list[dict[str, Any]]:
        return [m for c, m in self.sent if c == connection_id]


@dataclass
class FakeJobs:
    jobs: dict[str, Job] = field(default_factory=dict)

    def get_job(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def list_jobs(self, tenant: str, *, status: JobStatus | None, limit: int, next_token: str | None) -> JobPage:
        mine = [j for j in self.jobs.values() if j.tenant == tenant]
        return JobPage(items=sorted(mine, key=lambda j: j.created_at, reverse=True)[:limit], next_token=None)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    store: FakeConnections = field(default_factory=FakeConnections)
    pusher: FakePusher = field(default_factory=FakePusher)
    jobs: FakeJobs = field(default_factory=FakeJobs)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self.subs = Subscriptions(store=self.store, jobs=self.jobs, pusher=self.pusher, view=job_view, clock=self.clock)
        self.pub = Publisher(store=self.store, pusher=self.pusher, view=job_view, clock=self.clock)


@pytest.fixture
def w() -> World:
    return World()


def test_latest_per_job_keeps_the_newest_image_by_stream_sequence() -> None:
    changes = [change(job("a", done=1), 9), change(job("b", done=5), 10), change(job("a", done=3), 11),
               change(job("a", done=2), 100)]
    latest = {j.job_id: j.succeeded for j in latest_per_job(changes)}
    # 100 > 11 although "100" < "11" as text
    assert latest == {"a": 2, "b": 5}


def test_a_busy_job_is_pushed_once_per_batch_with_its_newest_state(w: World) -> None:
    w.subs.connect("c1", "acme", "key:1")
    w.jobs.jobs["j1"] = job()
    w.subs.receive("c1", json.dumps({"action": "subscribe", "job_id": "j1"}))
    w.pusher.sent.clear()
    # 1,000 counter updates of one job in 4 batches (in AWS: the batching window's 4 seconds)
    for batch in range(4):
        w.pub.publish([change(job(done=min(n // 10, 100)), n) for n in range(batch * 250, (batch + 1) * 250)])
    pushed = w.pusher.to("c1")
    assert [(m["seq"], m["job"]["counts"]["succeeded"]) for m in pushed] == [(1, 24), (2, 49), (3, 74), (4, 99)]


def test_events_reach_only_subscribers_of_the_jobs_own_tenant(w: World) -> None:
    for connection_id, tenant in (("a-all", "acme"), ("a-j1", "acme"), ("a-j2", "acme"), ("g-all", "globex")):
        w.subs.connect(connection_id, tenant, "x")
    w.jobs.jobs.update({"j1": job("j1"), "j2": job("j2"), "g1": job("g1", tenant="globex")})
    w.subs.receive("a-all", '{"action": "subscribe"}')
    w.subs.receive("a-j1", '{"action": "subscribe", "job_id": "j1"}')
    w.subs.receive("a-j2", '{"action": "subscribe", "job_id": "j2"}')
    w.subs.receive("g-all", '{"action": "subscribe"}')
    w.pusher.sent.clear()
    w.pub.publish([change(job("j1", done=1), 1), change(job("g1", tenant="globex", done=2), 2)])
    received = {c: [m["job"]["job_id"] for m in w.pusher.to(c)] for c in ("a-all", "a-j1", "a-j2", "g-all")}
    assert received == {"a-all": ["j1"], "a-j1": ["j1"], "a-j2": [], "g-all": ["g1"]}


def test_another_tenants_job_cannot_be_subscribed_to(w: World) -> None:
    w.jobs.jobs["g1"] = job("g1", tenant="globex")
    w.subs.connect("c1", "acme", "x")
    w.subs.receive("c1", '{"action": "subscribe", "job_id": "g1"}')
    assert w.pusher.to("c1") == [{"type": "error", "error": {"code": "not_found", "message": "job 'g1' was not found"}}]
    assert w.store.subs["c1"] == set()


def test_jobs_nobody_listens_to_spend_no_sequence(w: World) -> None:
    w.subs.connect("c1", "globex", "x")
    w.subs.receive("c1", '{"action": "subscribe"}')
    w.pub.publish([change(job("j1"), 1)])
    assert w.store.advanced == []


def test_resubscribing_with_the_current_sequence_sends_nothing_and_a_stale_one_a_snapshot(w: World) -> None:
    w.jobs.jobs["j1"] = job(done=1)
    w.subs.connect("c1", "acme", "x")
    w.subs.receive("c1", '{"action": "subscribe", "job_id": "j1"}')
    w.pub.publish([change(job(done=1), 1)])
    last = w.pusher.to("c1")[-1]["seq"]
    w.subs.disconnect("c1")

    w.subs.connect("c2", "acme", "x")
    w.subs.receive("c2", json.dumps({"action": "subscribe", "job_id": "j1", "last_seq": last}))
    assert w.pusher.to("c2")[-1] == {"type": "subscribed", "scope": "job", "job_id": "j1", "snapshot": False,
                                   "events": []}
    w.subs.disconnect("c2")

    # The job moved on while nobody listened: the sequence did not, but the digest tells.
    w.jobs.jobs["j1"] = job(done=7)
    w.pub.publish([change(job(done=7), 2)])
    w.subs.connect("c3", "acme", "x")
    w.subs.receive("c3", json.dumps({"action": "subscribe", "job_id": "j1", "last_seq": last}))
    reply = w.pusher.to("c3")[-1]
    assert reply["snapshot"] is True
    assert [(e["seq"], e["job"]["counts"]["succeeded"]) for e in reply["events"]] == [(last, 7)]


def test_a_tenant_subscription_starts_with_a_snapshot_of_its_newest_jobs(w: World) -> None:
    w.jobs.jobs.update({"j1": job("j1"), "g1": job("g1", tenant="globex")})
    w.store.seqs["j1"] = SequenceState(4, "d")
    w.subs.connect("c1", "acme", "x")
    w.subs.receive("c1", '{"action": "subscribe"}')
    reply = w.pusher.to("c1")[-1]
    assert reply["scope"] == "tenant"
    assert [(e["seq"], e["job"]["job_id"]) for e in reply["events"]] == [(4, "j1")]


def test_gone_connections_are_forgotten(w: World) -> None:
    w.jobs.jobs["j1"] = job()
    w.subs.connect("c1", "acme", "x")
    w.subs.receive("c1", '{"action": "subscribe", "job_id": "j1"}')
    w.pusher.gone.add("c1")
    report = w.pub.publish([change(job(done=3), 5)])
    assert report.gone == ["c1"]
    assert "c1" not in w.store.connections


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"action": "shout"}', "action: Input should be 'subscribe', 'unsubscribe' or 'ping'"),
        ('{"action": "subscribe", "job_id": "../x"}', "job_id: String should match pattern"),
        ('{"action": "subscribe", "last_seq": -1}', "last_seq: Input should be greater than or equal to 0"),
        ("not json", "Invalid JSON"),
    ],
)
def test_bad_messages_are_answered_with_the_field_at_fault(w: World, body: str, expected: str) -> None:
    w.subs.connect("c1", "acme", "x")
    w.subs.receive("c1", body)
    reply = w.pusher.to("c1")[-1]
    assert reply["error"]["code"] == "bad_request"
    assert expected in reply["error"]["message"]


def test_a_connection_holds_a_bounded_number_of_subscriptions(w: World) -> None:
    w.subs.connect("c1", "acme", "x")
    for i in range(21):
        w.jobs.jobs[f"j{i}"] = job(f"j{i}")
        w.subs.receive("c1", json.dumps({"action": "subscribe", "job_id": f"j{i}"}))
    assert w.pusher.to("c1")[-1]["error"]["code"] == "too_many_subscriptions"
    w.subs.receive("c1", '{"action": "unsubscribe", "job_id": "j0"}')
    assert w.pusher.to("c1")[-1] == {"type": "unsubscribed", "scope": "job", "job_id": "j0"}
    assert ALL_JOBS not in w.store.subs["c1"]


def test_ping_and_unknown_connections(w: World) -> None:
    w.subs.connect("c1", "acme", "x")
    w.subs.receive("c1", '{"action": "ping"}')
    w.subs.receive("nobody", '{"action": "ping"}')
    assert w.pusher.to("c1") == [{"type": "pong"}]
    assert w.pusher.to("nobody")[0]["error"]["code"] == "unknown_connection"


def test_pushed_jobs_look_exactly_like_the_rest_apis_job() -> None:
    from lambdas.api.schemas import JobOut

    j = job(done=4, stop_reason=StopReason.CANCELLED)
    assert job_view(j) == JobOut.of(j).model_dump(mode="json")
    assert digest_of(job_view(j)) == digest_of(json.loads(json.dumps(job_view(j))))


def test_a_tenant_at_its_connection_cap_is_refused_and_others_are_not(w: World) -> None:
    w.subs.max_connections_per_tenant = 2
    assert w.subs.connect("a1", "acme", "key:k1")
    assert w.subs.connect("a2", "acme", "user:u1")
    assert not w.subs.connect("a3", "acme", "key:k1")
    assert "a3" not in w.store.connections  # nothing recorded for the refused one
    assert w.subs.connect("g1", "globex", "key:k9")
    w.subs.disconnect("a1")
    assert w.subs.connect("a3", "acme", "key:k1")  # a freed place can be taken again


def test_closing_a_subjects_connections_closes_only_that_subjects_of_that_tenant(w: World) -> None:
    for connection_id, tenant, subject in (
        ("a1", "acme", "key:k1"), ("a2", "acme", "key:k1"), ("a3", "acme", "key:k2"), ("g1", "globex", "key:k1"),
    ):
        w.subs.connect(connection_id, tenant, subject)
    assert close_connections_of(w.store, w.pusher, "acme", "key:k1") == 2
    assert sorted(w.pusher.closed) == ["a1", "a2"]
    assert set(w.store.connections) == {"a3", "g1"}
    assert close_connections_of(w.store, w.pusher, "acme", "key:k1") == 0
