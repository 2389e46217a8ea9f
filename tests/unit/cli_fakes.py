"""An in-process fake of the job API behind an httpx.MockTransport, and a runner of jobctl against it.

The fake follows the API contract: ApiKey/Bearer auth per tenant, {"error": {"code", "message"}} answers,
idempotent submission, presigned uploads (on a fake S3 host), paging by next_token, cancel/retry with 409s,
and the dead-letter routes. A job's successive GETs can be scripted to walk it through statuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from cli.main import Session, app

API_URL = "https://api.test/v1/"
S3_HOST = "s3.test"
KEYS = {"ApiKey tlk_acme": "acme", "ApiKey tlk_globex": "globex", "Bearer id-token-acme": "acme"}
FINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}
CLEAN_ENV: dict[str, str | None] = {
    "COLUMNS": "200", "LINES": "50", "FORCE_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None,
    "NO_COLOR": None, "JOBCTL_TENANT": None, "TASKLANE_API_KEY": None, "TASKLANE_API_URL": None, "TASKLANE_TOKEN": None,
}


UPLOAD_MAX_BYTES = 128 * 1024 * 1024


def form_parts(request: httpx.Request) -> list[tuple[str, bytes, str | None]]:
    """A multipart/form-data body's parts, in order: (name, content, content type)."""
    raw = b"Content-Type: " + request.headers.get("content-type", "").encode() + b"\r\n\r\n" + request.read()
    message = BytesParser(policy=policy.HTTP).parsebytes(raw)
    if not message.is_multipart():
        return []
    return [
        (part.get_param("name", header="content-disposition") or "", part.get_payload(decode=True) or b"",
         part.get("content-type"))
        for part in message.iter_parts()  # type: ignore[attr-defined]
    ]


def error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


def counts_of(tasks: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"total": len(tasks), "pending": 0, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    for task in tasks:
        counts[task["status"].lower()] += 1
    return counts


@dataclass
class FakeJob:
    job: dict[str, Any]
    tenant: str
    tasks: list[dict[str, Any]]
    script: list[tuple[str, dict[str, int]]] = field(default_factory=list)  # served by successive GETs

    def view(self) -> dict[str, Any]:
        return {**self.job, "counts": counts_of(self.tasks)}


class FakeApi:
    def __init__(self) -> None:
        self.jobs: dict[str, FakeJob] = {}
        self.requests: list[httpx.Request] = []
        self.idempotency: dict[str, tuple[Any, str]] = {}
        self.uploads: dict[str, bytes | None] = {}
        self.expired_uploads: set[str] = set()  # their presigned URLs refuse PUTs
        self.dead_letters: list[dict[str, Any]] = []  # {"job_id", "task_id", "fingerprint", "error"}
        self.failures: list[httpx.Response | BaseException] = []  # answered (or raised) before anything else
        self.transport = httpx.MockTransport(self.handle)
        self._clock = 0

    # -- seeding ---------------------------------------------------------------------------------------------
    def add_job(self, name: str = "seeded", statuses: list[str] | None = None, tenant: str = "acme",
                task_statuses: list[str] | None = None) -> str:
        job_id = f"job{len(self.jobs) + 1:04d}"
        task_statuses = task_statuses or ["SUCCEEDED", "SUCCEEDED", "FAILED"]
        tasks = [self._task(job_id, i, {"type": "echo", "payload": {"i": i}}, status)
                 for i, status in enumerate(task_statuses)]
        self.jobs[job_id] = FakeJob(self._job(job_id, name, (statuses or ["SUCCEEDED"])[-1]), tenant, tasks)
        if statuses:
            self.jobs[job_id].script = [(s, progress_counts(len(tasks), s, i, len(statuses)))
                                        for i, s in enumerate(statuses)]
        return job_id

    def _job(self, job_id: str, name: str, status: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        self._clock += 1
        stamp = f"2026-01-01T00:00:{self._clock:02d}.000Z"
        return {"job_id": job_id, "name": name, "status": status, "created_at": stamp, "updated_at": stamp,
                "metadata": metadata or {}}

    def _task(self, job_id: str, index: int, spec: dict[str, Any], status: str = "PENDING") -> dict[str, Any]:
        failed = status == "FAILED"
        return {
            "task_id": f"t{index:08d}", "index": index, "type": spec["type"], "runtime": spec.get("runtime", "lambda"),
            "status": status, "attempts": 3 if failed else int(status != "PENDING"),
            "result": spec.get("payload") if status == "SUCCEEDED" else None,
            "error": "TaskFailure: boom" if failed else None, "progress": None, "progress_message": None,
            "payload": spec.get("payload", {}), "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z",
            "history": [{"attempt": 1, "status": "FAILED", "error": "TaskFailure: boom",
                         "finished_at": "2026-01-01T00:00:01.000Z"}] if failed else [],
        }

    # -- the transport ---------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, BaseException):
                raise failure
            return failure
        if request.url.host == S3_HOST:
            return self.s3_post(request)
        tenant = KEYS.get(request.headers.get("authorization", ""))
        if tenant is None:
            return error(401, "unauthorized", "missing or invalid credentials: send Authorization: ApiKey <key>")
        path = request.url.path.removeprefix("/v1/")
        for method, pattern, route in self.routes():
            match = re.fullmatch(pattern, path)
            if match and method == request.method:
                return route(request, tenant, *match.groups())
        return error(404, "no_route", f"no route for {request.method} /{path}")

    def routes(self) -> list[tuple[str, str, Callable[..., httpx.Response]]]:
        return [
            ("POST", r"jobs/uploads", self.create_upload),
            ("POST", r"jobs", self.submit),
            ("GET", r"jobs", self.list_jobs),
            ("GET", r"jobs/([^/]+)", self.get_job),
            ("GET", r"jobs/([^/]+)/tasks", self.list_tasks),
            ("GET", r"jobs/([^/]+)/tasks/([^/]+)", self.get_task),
            ("POST", r"jobs/([^/]+)/cancel", self.cancel),
            ("POST", r"jobs/([^/]+)/retry", self.retry),
            ("GET", r"dlq", self.list_dlq),
            ("POST", r"dlq/redrive", self.redrive),
        ]

    def owned(self, tenant: str, job_id: str) -> FakeJob | None:
        found = self.jobs.get(job_id)
        return found if found and found.tenant == tenant else None

    def submit(self, request: httpx.Request, tenant: str) -> httpx.Response:
        body = json.loads(request.content)
        key = request.headers.get("idempotency-key")
        if key and f"{tenant}:{key}" in self.idempotency:
            earlier, job_id = self.idempotency[f"{tenant}:{key}"]
            if earlier != body:
                return error(409, "idempotency_conflict", f"Idempotency-Key {key} was used for a different body")
            return httpx.Response(200, json={"job_id": job_id, "status": self.jobs[job_id].job["status"]})
        spec = body
        if "manifest" in body:
            upload_id = body["manifest"].get("upload_id")
            if self.uploads.get(upload_id) is None:
                return error(400, "invalid_request", f"upload {upload_id} has no uploaded spec")
            spec = json.loads(self.uploads[upload_id] or b"")
        if not spec.get("tasks"):
            return error(422, "validation_error", "body.tasks: Field required")
        job_id = f"job{len(self.jobs) + 1:04d}"
        tasks = [self._task(job_id, i, task) for i, task in enumerate(spec["tasks"])]
        self.jobs[job_id] = FakeJob(self._job(job_id, spec["name"], "PENDING", spec.get("metadata")), tenant, tasks)
        if key:
            self.idempotency[f"{tenant}:{key}"] = (body, job_id)
        return httpx.Response(201, json={"job_id": job_id, "status": "PENDING"})

    def create_upload(self, request: httpx.Request, tenant: str) -> httpx.Response:
        key = request.headers.get("idempotency-key")
        replayed = self.idempotency.get(f"{tenant}:uploads:{key}") if key else None
        upload_id = replayed[1] if replayed else f"{len(self.uploads) + 1:032x}"
        if key:
            self.idempotency[f"{tenant}:uploads:{key}"] = (None, upload_id)
        self.uploads.setdefault(upload_id, None)
        fields = {"key": f"uploads/{tenant}/{upload_id}.json", "Content-Type": "application/json",
                  "x-amz-algorithm": "AWS4-HMAC-SHA256", "policy": "cG9saWN5", "x-amz-signature": "abc"}
        return httpx.Response(201, json={
            "upload_id": upload_id, "url": f"https://{S3_HOST}/manifests", "fields": fields, "expires_in": 900,
            "method": "POST", "content_type": "application/json", "max_bytes": UPLOAD_MAX_BYTES,
        })

    def s3_post(self, request: httpx.Request) -> httpx.Response:
        """S3's presigned POST: the signed fields, then the file last; the policy's size and type enforced."""
        parts = form_parts(request)
        names = [name for name, _, _ in parts]
        fields = {name: value for name, value, _ in parts}
        upload_id = fields.get("key", b"").decode().rsplit("/", 1)[-1].removesuffix(".json")
        if (request.method != "POST" or upload_id not in self.uploads or "authorization" in request.headers
                or names[-1:] != ["file"] or fields.get("Content-Type") != b"application/json"):
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>")
        if upload_id in self.expired_uploads:
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message>")
        if len(fields["file"]) > UPLOAD_MAX_BYTES:
            return httpx.Response(400, text="<Error><Code>EntityTooLarge</Code></Error>")
        self.uploads[upload_id] = fields["file"]
        return httpx.Response(204)

    def list_jobs(self, request: httpx.Request, tenant: str) -> httpx.Response:
        status = request.url.params.get("status")
        jobs = [j.view() for j in reversed(self.jobs.values())
                if j.tenant == tenant and (status is None or j.job["status"] == status)]
        return page_of(jobs, request.url.params)

    def get_job(self, request: httpx.Request, tenant: str, job_id: str) -> httpx.Response:
        found = self.owned(tenant, job_id)
        if found is None:
            return error(404, "not_found", f"job {job_id!r} was not found")
        if found.script:
            status, counts = found.script.pop(0) if len(found.script) > 1 else found.script[0]
            found.job["status"] = status
            return httpx.Response(200, json={**found.job, "counts": counts})
        return httpx.Response(200, json=found.view())

    def list_tasks(self, request: httpx.Request, tenant: str, job_id: str) -> httpx.Response:
        found = self.owned(tenant, job_id)
        if found is None:
            return error(404, "not_found", f"job {job_id!r} was not found")
        status = request.url.params.get("status")
        if status is not None and status not in {"PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"}:
            return error(422, "validation_error", f"query.status: Input should be 'PENDING', ... not {status!r}")
        wanted = [summary(t) for t in found.tasks if status is None or t["status"] == status]
        return page_of(wanted, request.url.params)

    def get_task(self, request: httpx.Request, tenant: str, job_id: str, task_id: str) -> httpx.Response:
        found = self.owned(tenant, job_id)
        task = next((t for t in found.tasks if t["task_id"] == task_id), None) if found else None
        if task is None:
            return error(404, "not_found", f"task {task_id!r} of job {job_id!r} was not found")
        return httpx.Response(200, json=task)

    def cancel(self, request: httpx.Request, tenant: str, job_id: str) -> httpx.Response:
        found = self.owned(tenant, job_id)
        if found is None:
            return error(404, "not_found", f"job {job_id!r} was not found")
        if found.job["status"] in FINAL:
            return error(409, "conflict", f"job {job_id} is {found.job['status']}: it can no longer be cancelled")
        found.job["status"] = "CANCELLED"
        for task in found.tasks:
            if task["status"] == "PENDING":
                task["status"] = "CANCELLED"
        return httpx.Response(202, json=found.view())

    def retry(self, request: httpx.Request, tenant: str, job_id: str) -> httpx.Response:
        found = self.owned(tenant, job_id)
        if found is None:
            return error(404, "not_found", f"job {job_id!r} was not found")
        if found.job["status"] != "FAILED":
            return error(409, "conflict", f"job {job_id} is {found.job['status']}: only FAILED jobs can be retried")
        found.job["status"] = "RUNNING"
        for task in found.tasks:
            if task["status"] == "FAILED":
                task.update(status="PENDING", error=None)
        return httpx.Response(202, json=found.view())

    def list_dlq(self, request: httpx.Request, tenant: str) -> httpx.Response:
        limit = int(request.url.params.get("limit", "10000"))
        letters = self.dead_letters[:limit]
        groups: dict[str, dict[str, Any]] = {}
        for letter in letters:
            group = groups.setdefault(letter["fingerprint"], {
                "fingerprint": letter["fingerprint"], "task_type": "fail", "error_class": "TaskFailure",
                "message": letter["error"], "count": 0, "job_ids": [], "sample_task_ids": [],
                "sample_error": letter["error"],
            })
            group["count"] += 1
            group["job_ids"] = sorted({*group["job_ids"], letter["job_id"]})
            group["sample_task_ids"].append(letter["task_id"])
        body = {"groups": list(groups.values()), "total": len(letters), "truncated": len(self.dead_letters) > limit}
        return httpx.Response(200, json=body)

    def redrive(self, request: httpx.Request, tenant: str) -> httpx.Response:
        selection = json.loads(request.content)
        wanted = {"job_id": selection.get("job_id"), "fingerprint": selection.get("fingerprint")}
        chosen = [d for d in self.dead_letters if all(v is None or d[k] == v for k, v in wanted.items())
                  and ("task_ids" not in selection or d["task_id"] in selection["task_ids"])]
        self.dead_letters = [d for d in self.dead_letters if d not in chosen]
        runs = {d["job_id"]: 1 for d in chosen}
        skipped = [{"job_id": selection.get("job_id"), "task_id": t, "reason": "not dead-lettered"}
                   for t in selection.get("task_ids", []) if t not in {d["task_id"] for d in chosen}]
        return httpx.Response(202, json={"redriven": len(chosen), "runs": runs, "skipped": skipped})


def summary(task: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in task.items() if k not in ("payload", "history", "created_at", "updated_at")}


def page_of(items: list[dict[str, Any]], params: Mapping[str, str]) -> httpx.Response:
    start = int(params.get("next_token", "0"))
    limit = int(params.get("limit", "100"))
    end = start + limit
    token = str(end) if end < len(items) else None
    return httpx.Response(200, json={"items": items[start:end], "next_token": token})


def progress_counts(total: int, status: str, step: int, steps: int) -> dict[str, int]:
    """Counts for a scripted job: finished tasks grow with each step; the final step matches its status."""
    done = total if status in FINAL else total * step // steps
    counts = {"total": total, "pending": total - done, "running": 0, "succeeded": done, "failed": 0, "cancelled": 0}
    if status == "FAILED" and done:
        counts.update(succeeded=done - 1, failed=1)
    if status in {"CANCELLED", "TIMED_OUT"}:
        counts.update(succeeded=done // 2, cancelled=done - done // 2)
    if status == "RUNNING" and counts["pending"]:
        counts.update(pending=counts["pending"] - 1, running=1)
    return counts


@dataclass
class Jobctl:
    """Runs jobctl in-process against the fake API, as a tenant of a temporary endpoints file by default."""

    api: FakeApi
    endpoints: Path
    runner: CliRunner = field(default_factory=CliRunner)
    # The client's waits between retries, recorded rather than slept.
    waits: list[float] = field(default_factory=list)

    def __call__(self, *args: str, env: Mapping[str, str | None] | None = None, target: bool = True) -> Result:
        prefix = ["--endpoints", str(self.endpoints)] if target else []
        return self.runner.invoke(app, [*prefix, *args], env={**CLEAN_ENV, **(env or {})},
                                  obj=Session(transport=self.api.transport, sleep=self.waits.append))


def write_endpoints(path: Path, tenants: dict[str, str] | None = None) -> Path:
    keys = tenants if tenants is not None else {"acme": "tlk_acme", "globex": "tlk_globex"}
    document = {"api_url": API_URL, "tenants": {name: {"headers": {"Authorization": f"ApiKey {key}"}}
                                                for name, key in keys.items()}}
    path.write_text(json.dumps(document))
    return path
