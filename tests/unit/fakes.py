"""Small in-memory stand-ins for the domain's ports, for tests of the logic above them.

InMemoryJobStore follows DynamoJobStore's contract (tasklane/aws/dynamodb_store.py and its mixins)
condition for condition, so domain tests over it mean the same as over moto; the store tests check
DynamoJobStore itself.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tasklane.attempts import OutcomeKind, TaskOutcome
from tasklane.auth import ApiKeyRecord, Unauthorized
from tasklane.clock import now_iso
from tasklane.dead_letters import UNROUTED_TENANT, DeadLetter, fingerprint
from tasklane.dispatch import payload_key
from tasklane.errors import InvalidRequest
from tasklane.models import (
    AttemptRecord,
    Job,
    JobSpec,
    JobStatus,
    StopReason,
    TaskMessage,
    TaskRecord,
    TaskStatus,
)
from tasklane.ports import CommitResult, JobPage, TaskPage, UploadForm


@dataclass
class CallLog:
    """One ordered log shared by several fakes, to check the order of calls across ports."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class InMemoryManifests:
    """Manifests, uploads and large payloads, keyed as S3ManifestStore keys them."""

    def __init__(self, log: CallLog | None = None) -> None:
        self.specs: dict[str, JobSpec] = {}
        self.uploads: dict[tuple[str, str], bytes] = {}
        self.payloads: dict[str, dict[str, Any]] = {}
        self.log = log or CallLog()

    def put(self, job_id: str, spec: JobSpec) -> None:
        self.log.calls.append(("manifests.put", job_id))
        self.specs[job_id] = spec

    def put_json(self, job_id: str, manifest: bytes) -> None:
        self.put(job_id, JobSpec.model_validate_json(manifest))

    def get(self, job_id: str) -> JobSpec:
        return self.specs[job_id]

    def upload_form(self, tenant: str, upload_id: str, expires_in: int, max_bytes: int) -> UploadForm:
        return UploadForm(url="https://uploads.example.test/", fields={
            "key": f"uploads/{tenant}/{upload_id}.json", "expires": str(expires_in), "max_bytes": str(max_bytes),
        })

    def upload_size(self, tenant: str, upload_id: str) -> int | None:
        body = self.uploads.get((tenant, upload_id))
        return None if body is None else len(body)

    def read_upload(self, tenant: str, upload_id: str) -> bytes | None:
        return self.uploads.get((tenant, upload_id))

    def put_payload(self, job_id: str, task_id: str, payload: dict[str, Any]) -> str:
        ref = payload_key(job_id, task_id)
        self.log.calls.append(("manifests.put_payload", ref))
        self.payloads[ref] = json.loads(json.dumps(payload))
        return ref

    def get_payload(self, ref: str) -> dict[str, Any]:
        return dict(self.payloads[ref])


class RecordingWorkflow:
    """Starter and resumer at once: keeps every start, resume and interrupt."""

    def __init__(self, log: CallLog | None = None) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []
        self.resumed: list[tuple[str, dict[str, Any]]] = []
        self.interrupted: list[tuple[str, str, str]] = []
        self.log = log or CallLog()

    def start(self, name: str, execution_input: dict[str, Any]) -> None:
        self.log.calls.append(("workflow.start", name))
        self.started.append((name, execution_input))

    def resume(self, token: str, output: dict[str, Any]) -> None:
        self.log.calls.append(("workflow.resume", token))
        self.resumed.append((token, output))

    def interrupt(self, token: str, error: str, cause: str) -> None:
        self.log.calls.append(("workflow.interrupt", token))
        self.interrupted.append((token, error, cause))


class RecordingQueue:
    """A task queue that keeps what it was sent; `fail_on_call` makes that call (1-based) raise once."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.sent: list[TaskMessage] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    def send(self, messages: list[TaskMessage]) -> None:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise ConnectionError("simulated crash while sending")
        self.sent += messages

    def task_ids(self) -> list[str]:
        return [m.task_id for m in self.sent]


class RecordingRetries:
    def __init__(self) -> None:
        self.scheduled: list[tuple[str, float]] = []

    def retry_later(self, receipt_handle: str, delay_seconds: float) -> None:
        self.scheduled.append((receipt_handle, delay_seconds))


def _token(payload: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _untoken(token: str, keys: set[str]) -> dict[str, str]:
    try:
        decoded = json.loads(base64.b64decode(token.encode(), altchars=b"-_", validate=True))
        if not isinstance(decoded, dict) or set(decoded) != keys:
            raise ValueError("unexpected token shape")
        return {k: str(v) for k, v in decoded.items()}
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidRequest("next_token is not a token this API returned") from exc


class InMemoryJobStore:
    """The whole JobStore port in memory, with DynamoJobStore's conditions; every task write is recorded."""

    def __init__(self, log: CallLog | None = None) -> None:
        self.jobs: dict[str, Job] = {}
        self.written: dict[str, int] = {}
        self.tasks: dict[tuple[str, str], TaskRecord] = {}
        self.writes: list[str] = []
        self.tokens: dict[str, str] = {}
        self.resumed: set[str] = set()
        self.letters: dict[tuple[str, str], DeadLetter] = {}  # (tenant, fingerprint#job#task) -> letter
        self.log = log or CallLog()

    # --- jobs ---------------------------------------------------------------------------------------------

    def _update(self, job_id: str, **fields: Any) -> Job:
        job = self.jobs[job_id].model_copy(update={**fields, "updated_at": now_iso()})
        self.jobs[job_id] = job
        return job

    def create_job(self, job: Job) -> None:
        self.log.calls.append(("store.create_job", job.job_id))
        assert job.job_id not in self.jobs
        # As job_item does: a new job starts with every counter but total and remaining at zero.
        self.jobs[job.job_id] = job.model_copy(
            update={"running": 0, "succeeded": 0, "failed": 0, "cancelled": 0, "sent": 0, "run": 0,
                    "stop_reason": None}
        )
        self.written[job.job_id] = 0

    def get_job(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def set_job_status(
        self, job_id: str, status: JobStatus, *, only_from: tuple[JobStatus, ...], error: str | None = None
    ) -> bool:
        job = self.jobs.get(job_id)
        if job is None or job.status not in only_from:
            return False
        self._update(job_id, status=status, **({"error": error} if error is not None else {}))
        return True

    def list_jobs(self, tenant: str, *, status: JobStatus | None, limit: int, next_token: str | None) -> JobPage:
        mine = sorted(
            (j for j in self.jobs.values() if j.tenant == tenant), key=lambda j: (j.created_at, j.job_id), reverse=True
        )
        if next_token:
            start = _untoken(next_token, {"tenant", "after"})
            if start["tenant"] != tenant:
                raise InvalidRequest("next_token is not a token this API returned")
            mine = [j for j in mine if f"{j.created_at}#{j.job_id}" < start["after"]]
        # As DynamoDB's Limit: `limit` jobs are read, then filtered; the token marks the last one read.
        page = [j for j in mine if status is None or j.status is status]
        items = page[:limit]
        more = len(page) > limit
        last = items[-1] if items else None
        token = _token({"tenant": tenant, "after": f"{last.created_at}#{last.job_id}"}) if more and last else None
        return JobPage(items=items, next_token=token)

    # --- dispatch -----------------------------------------------------------------------------------------

    def dispatch_cursor(self, job_id: str) -> tuple[int, int]:
        return self.written[job_id], self.jobs[job_id].sent

    def write_tasks(self, job_id: str, records: list[TaskRecord], written_upto: int) -> None:
        for record in records:
            self.writes.append(record.task_id)
            self.tasks[(job_id, record.task_id)] = record
        self.written[job_id] = written_upto

    def mark_sent(self, job_id: str, sent_upto: int) -> None:
        self.jobs[job_id] = self.jobs[job_id].model_copy(update={"sent": sent_upto})

    # --- tasks --------------------------------------------------------------------------------------------

    def _tasks_of(self, job_id: str) -> list[TaskRecord]:
        return sorted((t for (j, _), t in self.tasks.items() if j == job_id), key=lambda t: t.task_id)

    def list_tasks(self, job_id: str, *, status: TaskStatus | None, limit: int, next_token: str | None) -> TaskPage:
        items = self._tasks_of(job_id)
        if next_token:
            start = _untoken(next_token, {"job_id", "after"})
            if start["job_id"] != job_id:
                raise InvalidRequest("next_token is not a token this API returned")
            items = [t for t in items if t.task_id > start["after"]]
        items = [t for t in items if status is None or t.status is status]
        page = items[:limit]
        token = _token({"job_id": job_id, "after": page[-1].task_id}) if len(items) > limit else None
        return TaskPage(items=page, next_token=token)

    def get_task(self, job_id: str, task_id: str) -> TaskRecord | None:
        return self.tasks.get((job_id, task_id))

    def _set_task(self, record: TaskRecord, **fields: Any) -> TaskRecord:
        updated = record.model_copy(update=fields)
        self.tasks[(record.job_id, record.task_id)] = updated
        return updated

    def mark_running(self, message: TaskMessage, attempt: int) -> bool:
        task = self.tasks.get((message.job_id, message.task_id))
        job = self.jobs.get(message.job_id)
        if task is None or job is None:
            return False
        if task.status is TaskStatus.PENDING and task.attempts < attempt:
            self._set_task(task, status=TaskStatus.RUNNING, attempts=attempt, updated_at=now_iso())
            self._update(message.job_id, running=job.running + 1)
            return job.stop_reason is None  # a stopping job's task stays RUNNING for its stop step
        if task.status is TaskStatus.RUNNING and task.attempts < attempt and job.stop_reason is None:
            self._set_task(task, attempts=attempt, updated_at=now_iso())
            return True
        return False

    def record_progress(self, job_id: str, task_id: str, attempt: int, progress: float, note: str | None) -> bool:
        task = self.tasks.get((job_id, task_id))
        if task is None or task.status is not TaskStatus.RUNNING or task.attempts != attempt:
            return False
        self._set_task(task, progress=max(0.0, min(1.0, progress)), progress_message=note[:500] if note else None)
        return True

    def _applies(self, task: TaskRecord | None, outcome: TaskOutcome) -> bool:
        was = TaskStatus.RUNNING if outcome.from_running else TaskStatus.PENDING
        if task is None or task.status is not was:
            return False
        if outcome.attempt is None:
            return True
        if outcome.from_running:
            return task.attempts == outcome.attempt
        return task.attempts < outcome.attempt

    def record_outcomes(self, job_id: str, outcomes: list[TaskOutcome]) -> CommitResult:
        result = CommitResult()
        for outcome in outcomes:
            task = self.tasks.get((outcome.job_id, outcome.task_id))
            if not self._applies(task, outcome):
                result.stale.append(outcome)
                continue
            assert task is not None
            now = now_iso()
            status = TaskStatus.PENDING if outcome.kind is OutcomeKind.RETRY else TaskStatus(outcome.kind.value)
            fields: dict[str, Any] = {"status": status, "updated_at": now}
            if outcome.attempt is not None:
                entry = AttemptRecord(attempt=outcome.attempt, status=status, error=outcome.error, finished_at=now)
                fields.update(attempts=outcome.attempt, history=[*task.history, entry])
            if outcome.error is not None:
                fields["error"] = outcome.error[:4000]
            if outcome.kind is OutcomeKind.SUCCEEDED:
                fields.update(result=outcome.result, error=None)
            self._set_task(task, **fields)
            job = self.jobs[job_id]
            final = outcome.is_final
            self._update(
                job_id,
                remaining=job.remaining - final,
                succeeded=job.succeeded + (outcome.kind is OutcomeKind.SUCCEEDED),
                failed=job.failed + (outcome.kind is OutcomeKind.FAILED),
                cancelled=job.cancelled + (outcome.kind is OutcomeKind.CANCELLED),
                running=job.running - outcome.from_running,
            )
            if outcome.kind is OutcomeKind.FAILED:
                self.put_dead_letter(DeadLetter(
                    tenant=outcome.tenant or UNROUTED_TENANT, fingerprint=fingerprint(outcome.task_type, outcome.error),
                    job_id=outcome.job_id, task_id=outcome.task_id, task_type=outcome.task_type,
                    error=outcome.error or "", source="task" if outcome.attempt is not None else "queue", dead_at=now,
                ))
            result.applied.append(outcome)
            if final and self.jobs[job_id].remaining == 0:
                result.finished_job = True
        return result

    # --- resuming the workflow ----------------------------------------------------------------------------

    def save_resume_token(self, job_id: str, token: str) -> Job:
        if job_id not in self.jobs:
            raise KeyError(job_id)  # DynamoDB refuses it: ConditionalCheckFailed on attribute_exists(pk)
        self.tokens[job_id] = token
        return self._update(job_id)

    def claim_resume(self, job_id: str, *, require_done: bool = True) -> str | None:
        job = self.jobs.get(job_id)
        if job is None or job_id not in self.tokens or job_id in self.resumed:
            return None
        if require_done and job.remaining != 0:
            return None
        self.resumed.add(job_id)
        return self.tokens[job_id]

    # --- stopping -----------------------------------------------------------------------------------------

    def request_stop(self, job_id: str, reason: StopReason) -> Job | None:
        job = self.jobs.get(job_id)
        if job is None or job.status.is_final or job.stop_reason is not None:
            return None
        return self._update(job_id, stop_reason=reason)

    def cancel_unwritten(self, job_id: str) -> int:
        job = self.jobs.get(job_id)
        if job is None or self.written[job_id] >= job.total:
            return 0
        unwritten = job.total - self.written[job_id]
        self.written[job_id] = job.total
        self._update(job_id, cancelled=job.cancelled + unwritten, remaining=job.remaining - unwritten)
        return unwritten

    def stopped_jobs(self, job_ids: list[str]) -> set[str]:
        return {j for j in job_ids if j in self.jobs and self.jobs[j].stop_reason is not None}

    def live_tasks(self, job_id: str) -> Iterator[TaskRecord]:
        return iter([t for t in self._tasks_of(job_id) if not t.status.is_final])

    # --- runs ---------------------------------------------------------------------------------------------

    def begin_run(self, job_id: str, run: int) -> Job | None:
        job = self.jobs.get(job_id)
        if job is None or not job.status.is_final or job.run != run - 1:
            return None
        self.tokens.pop(job_id, None)
        self.resumed.discard(job_id)
        return self._update(job_id, status=JobStatus.PENDING, run=run, stop_reason=None, error=None)

    def reopen_tasks(
        self,
        job_id: str,
        run: int,
        task_ids: list[str] | None,
        payload: dict[str, Any] | None,
        by: str,
        payload_ref: str | None = None,
    ) -> list[TaskRecord]:
        job = self.jobs[job_id]
        chosen = set(task_ids) if task_ids is not None else None
        failed = [
            t for t in self._tasks_of(job_id)
            if t.status is TaskStatus.FAILED and (chosen is None or t.task_id in chosen)
        ]
        now = now_iso()
        for task in failed:
            fields: dict[str, Any] = {"status": TaskStatus.PENDING, "run": run, "redriven_by": by, "redriven_at": now,
                                      "updated_at": now, "error": None}
            if payload_ref is not None:
                fields.update(payload={}, payload_ref=payload_ref)
            elif payload is not None:
                fields.update(payload=payload, payload_ref=None)
            self._set_task(task, **fields)
            self.letters.pop((job.tenant, f"{fingerprint(task.type, task.error)}#{job_id}#{task.task_id}"), None)
        if failed:
            self._update(job_id, failed=job.failed - len(failed), remaining=job.remaining + len(failed))
        return failed

    # --- windows ------------------------------------------------------------------------------------------

    def claim_window(self, job_id: str, count: int) -> range:
        if count <= 0:
            return range(0)
        job = self.jobs[job_id]
        claimed = job.sent + count
        self.jobs[job_id] = job.model_copy(update={"sent": claimed})
        return range(min(claimed - count, job.total), min(claimed, job.total))

    def tasks_between(self, job_id: str, start: int, stop: int) -> list[TaskRecord]:
        return [t for t in self._tasks_of(job_id) if start <= t.index < stop]

    # --- dead letters -------------------------------------------------------------------------------------

    def put_dead_letter(self, letter: DeadLetter) -> None:
        self.letters[(letter.tenant, f"{letter.fingerprint}#{letter.job_id}#{letter.task_id}")] = letter

    def dead_letters(self, tenant: str, *, limit: int) -> list[DeadLetter]:
        return [letter for (t, _), letter in sorted(self.letters.items()) if t == tenant][:limit]


class MemoryKeys:
    def __init__(self) -> None:
        self.records: dict[str, ApiKeyRecord] = {}

    def put_key(self, digest: str, record: ApiKeyRecord) -> None:
        assert digest not in self.records
        self.records[digest] = record

    def find_key(self, digest: str) -> ApiKeyRecord | None:
        return self.records.get(digest)

    def list_keys(self, tenant: str) -> list[ApiKeyRecord]:
        return sorted((r for r in self.records.values() if r.tenant == tenant), key=lambda r: r.created_at)

    def revoke_key(self, tenant: str, key_id: str, revoked_at: str) -> ApiKeyRecord | None:
        for digest, record in self.records.items():
            if record.tenant == tenant and record.key_id == key_id:
                self.records[digest] = dataclasses.replace(
                    record, revoked=True, revoked_at=record.revoked_at or revoked_at
                )
                return self.records[digest]
        return None


class FakeVerifier:
    """Answers fixed claims for one token; refuses any other as the real verifier would."""

    def __init__(self, claims: dict[str, Any], token: str = "good-token") -> None:
        self.claims_for = {token: claims}
        self.seen: list[str] = []

    def claims(self, token: str) -> dict[str, Any]:
        self.seen.append(token)
        if token not in self.claims_for:
            raise Unauthorized("invalid token")
        return self.claims_for[token]


class ScriptedStore:
    """A JobStore for completion logic: record_outcomes answers from a script; claim_resume hands out
    the saved token exactly once, as the real conditional update does."""

    def __init__(self, results: dict[str, CommitResult], token: str | None = "token-1") -> None:
        self.results = results
        self.token = token
        self.resumed = False
        self.committed: list[tuple[str, list[TaskOutcome]]] = []
        self.claims = 0

    def record_outcomes(self, job_id: str, outcomes: list[TaskOutcome]) -> CommitResult:
        self.committed.append((job_id, list(outcomes)))
        return self.results[job_id]

    def claim_resume(self, job_id: str, *, require_done: bool = True) -> str | None:
        self.claims += 1
        if self.token is None or self.resumed:
            return None
        self.resumed = True
        return self.token


class Spy:
    """Wraps a boto3 client: every call goes through to it and is recorded as (operation, kwargs)."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return attr(*args, **kwargs)

        return record

    def named(self, operation: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == operation]


def every_page(fetch: Callable[[str | None], Any], limit: int) -> list[Any]:
    """The items of every page `fetch(next_token)` returns, following the tokens; each page within `limit`."""
    items: list[Any] = []
    token = None
    while True:
        page = fetch(token)
        assert len(page.items) <= limit
        items += page.items
        if (token := page.next_token) is None:
            return items
