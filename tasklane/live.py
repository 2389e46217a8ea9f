"""Live job status for dashboards: subscriptions, sequences, coalescing and tenant isolation.

A client of the WebSocket API subscribes to one job, or to all of its tenant's jobs ("*"). Every write of a
job item reaches `Publisher.publish` through the table's stream, in batches: it keeps the newest image of
each job in the batch (coalescing), numbers each push with the job's next sequence, and posts it only to
connections of the job's own tenant. How often a busy job is pushed is thus how often batches come: Lambda
polls a stream shard 4 times a second, so a job of 100,000 tasks, however many counter updates it makes,
leaves as at most ~4 pushes a second. Nothing is ever dropped on a timer: the newest image of every batch
goes out, so the last state of a burst is never held back.

Resuming: a client that (re)subscribes to a job with the last sequence it saw gets nothing when that is still
the job's sequence and the job is unchanged since (the stored digest of the last pushed view still matches),
and otherwise a fresh snapshot read from the table. Snapshots always replace what a client has; events apply
only when their sequence is above the one the client holds.

Messages from clients: {"action": "subscribe", "job_id"?: id, "last_seq"?: n} (no job_id: every job of the
tenant), {"action": "unsubscribe", "job_id"?: id}, {"action": "ping"}. To clients: {"type": "job", "seq", "job"},
{"type": "subscribed", "scope", "job_id", "snapshot", "events": [{"seq", "job"}]}, {"type": "unsubscribed", ...},
{"type": "pong"}, {"type": "error", "error": {"code", "message"}}.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tasklane.models import Job, JobStatus
from tasklane.ports import JobPage

ALL_JOBS = "*"
MAX_SUBSCRIPTIONS_PER_CONNECTION = 20
JobView = Callable[[Job], dict[str, Any]]


@dataclass(frozen=True)
class Connection:
    connection_id: str
    tenant: str
    subject: str


@dataclass(frozen=True)
class SequenceState:
    """The last push of a job: its sequence and the digest of the view it carried."""

    seq: int
    digest: str


@dataclass(frozen=True)
class JobChange:
    """One stream record of a job item: the job as written, and the record's stream sequence number."""

    job: Job
    stream_sequence: str


class ConnectionStore(Protocol):
    def add_connection(self, connection: Connection, expires_at: int) -> None: ...

    def connection(self, connection_id: str) -> Connection | None: ...

    def remove_connection(self, connection_id: str) -> None:
        """Forget the connection and every subscription it holds."""
        ...

    def subscribe(self, connection: Connection, job_id: str, expires_at: int, limit: int) -> bool:
        """Record the subscription; False when the connection already holds `limit` others."""
        ...

    def unsubscribe(self, connection: Connection, job_id: str) -> None: ...

    def subscribers(self, tenant: str) -> dict[str, set[str]]:
        """The tenant's subscriptions: job id (or ALL_JOBS) -> connection ids."""
        ...

    def tenant_connections(self, tenant: str) -> list[Connection]:
        """The tenant's open connections (not yet expired)."""
        ...

    def advance(self, job_id: str, digest: str, expires_at: int) -> int:
        """The job's next sequence (atomically), remembering the digest of the view it numbers."""
        ...

    def sequences(self, job_ids: list[str]) -> dict[str, SequenceState]: ...


class Pusher(Protocol):
    def post(self, connection_id: str, data: bytes) -> bool:
        """Send one message; False when the connection is gone."""
        ...

    def close(self, connection_id: str) -> None:
        """Close the connection (nothing happens when it is already gone)."""
        ...


class JobReader(Protocol):
    def get_job(self, job_id: str) -> Job | None: ...

    def list_jobs(self, tenant: str, *, status: JobStatus | None, limit: int, next_token: str | None) -> JobPage: ...


class ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["subscribe", "unsubscribe", "ping"]
    job_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    last_seq: int | None = Field(default=None, ge=0)


def digest_of(view: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def error_message(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message}}


def latest_per_job(changes: Iterable[JobChange]) -> list[Job]:
    """Coalesce: the newest image of each job, by stream sequence number (decimal strings of any length)."""
    newest: dict[str, JobChange] = {}
    for change in changes:
        seen = newest.get(change.job.job_id)
        if seen is None or _seq_key(change.stream_sequence) > _seq_key(seen.stream_sequence):
            newest[change.job.job_id] = change
    return [c.job for c in newest.values()]


def _seq_key(sequence: str) -> tuple[int, str]:
    return (len(sequence), sequence)


@dataclass
class PublishReport:
    jobs: int = 0
    posted: int = 0
    gone: list[str] = field(default_factory=list)


@dataclass
class Publisher:
    """Pushes job changes from the stream to subscribed connections."""

    store: ConnectionStore
    pusher: Pusher
    view: JobView
    sequence_ttl_seconds: int = 7 * 24 * 3600
    clock: Callable[[], float] = time.time

    def publish(self, changes: list[JobChange]) -> PublishReport:
        now = self.clock()
        newest = latest_per_job(changes)
        report = PublishReport(jobs=len(newest))
        by_tenant: dict[str, list[Job]] = {}
        for job in newest:
            by_tenant.setdefault(job.tenant, []).append(job)
        for tenant, jobs in by_tenant.items():
            subscriptions = self.store.subscribers(tenant)
            for job in jobs:
                targets = subscriptions.get(job.job_id, set()) | subscriptions.get(ALL_JOBS, set())
                if not targets:
                    # Nobody listens: no sequence is spent. A later subscriber gets a snapshot, because the
                    # job's view no longer matches the digest of its last push.
                    continue
                view = self.view(job)
                seq = self.store.advance(job.job_id, digest_of(view), int(now) + self.sequence_ttl_seconds)
                data = encode({"type": "job", "seq": seq, "job": view})
                for connection_id in sorted(targets):
                    if connection_id in report.gone:
                        continue
                    if self.pusher.post(connection_id, data):
                        report.posted += 1
                    else:
                        report.gone.append(connection_id)
        for connection_id in report.gone:
            self.store.remove_connection(connection_id)
        return report


@dataclass
class Subscriptions:
    """What the WebSocket routes do: connect, disconnect, and the messages of a connected client."""

    store: ConnectionStore
    jobs: JobReader
    pusher: Pusher
    view: JobView
    connection_ttl_seconds: int = 3 * 3600  # API Gateway closes a connection after 2 hours
    snapshot_limit: int = 25
    # Open connections one tenant may hold; the next $connect is refused (None: no cap).
    max_connections_per_tenant: int | None = None
    clock: Callable[[], float] = time.time

    def connect(self, connection_id: str, tenant: str, subject: str) -> bool:
        """Record the connection; False (and nothing recorded) when the tenant already holds its cap.

        Two handshakes of one tenant at the same moment may both pass the count: the cap bounds connections
        against a tenant's flood, not to the exact unit."""
        cap = self.max_connections_per_tenant
        if cap is not None and len(self.store.tenant_connections(tenant)) >= cap:
            return False
        self.store.add_connection(Connection(connection_id, tenant, subject), self._expires())
        return True

    def disconnect(self, connection_id: str) -> None:
        self.store.remove_connection(connection_id)

    def receive(self, connection_id: str, body: str) -> None:
        connection = self.store.connection(connection_id)
        if connection is None:
            self._send(connection_id, error_message("unknown_connection", "reconnect: this connection is not known"))
            return
        try:
            message = ClientMessage.model_validate_json(body or "{}")
        except ValidationError as exc:
            self._send(connection_id, error_message("bad_request", _describe(exc)))
            return
        if message.action == "ping":
            self._send(connection_id, {"type": "pong"})
        elif message.action == "subscribe":
            self._subscribe(connection, message)
        else:
            self.store.unsubscribe(connection, message.job_id or ALL_JOBS)
            self._send(connection_id, {"type": "unsubscribed", **_scope(message.job_id)})

    def _subscribe(self, connection: Connection, message: ClientMessage) -> None:
        job_id = message.job_id
        if job_id is not None and not self._owned(connection, job_id):
            self._send(connection.connection_id, error_message("not_found", f"job {job_id!r} was not found"))
            return
        limit = MAX_SUBSCRIPTIONS_PER_CONNECTION
        if not self.store.subscribe(connection, job_id or ALL_JOBS, self._expires(), limit):
            text = f"a connection holds at most {limit} subscriptions; unsubscribe from one first"
            self._send(connection.connection_id, error_message("too_many_subscriptions", text))
            return
        # The sequence is read before the job: the job read is then at least as new as the push it numbers.
        if job_id is not None:
            state = self.store.sequences([job_id]).get(job_id)
            job = self.jobs.get_job(job_id)
            assert job is not None  # jobs are never deleted
            view = self.view(job)
            current = message.last_seq is not None and state is not None and state.seq == message.last_seq
            if current and state is not None and state.digest == digest_of(view):
                events: list[dict[str, Any]] = []
            else:
                events = [{"seq": state.seq if state else 0, "job": view}]
        else:
            page = self.jobs.list_jobs(connection.tenant, status=None, limit=self.snapshot_limit, next_token=None)
            states = self.store.sequences([j.job_id for j in page.items])
            events = [
                {"seq": states[j.job_id].seq if j.job_id in states else 0, "job": self.view(j)} for j in page.items
            ]
        self._send(
            connection.connection_id,
            {"type": "subscribed", **_scope(job_id), "snapshot": bool(events) or job_id is None, "events": events},
        )

    def _owned(self, connection: Connection, job_id: str) -> bool:
        job = self.jobs.get_job(job_id)
        # Another tenant's job is "not found", exactly as the REST API answers.
        return job is not None and job.tenant == connection.tenant

    def _send(self, connection_id: str, message: dict[str, Any]) -> None:
        if not self.pusher.post(connection_id, encode(message)):
            self.store.remove_connection(connection_id)

    def _expires(self) -> int:
        return int(self.clock()) + self.connection_ttl_seconds


def _scope(job_id: str | None) -> dict[str, Any]:
    return {"scope": "job", "job_id": job_id} if job_id else {"scope": "tenant", "job_id": None}


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error["loc"]) or "message"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def close_connections_of(store: ConnectionStore, pusher: Pusher, tenant: str, subject: str) -> int:
    """Close and forget the tenant's connections opened by `subject` (a revoked key's); returns how many."""
    closing = [c for c in store.tenant_connections(tenant) if c.subject == subject]
    for connection in closing:
        pusher.close(connection.connection_id)
        store.remove_connection(connection.connection_id)
    return len(closing)
