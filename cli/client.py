"""A small typed client of the job API over httpx, shared by jobctl, the demo, the tests and the benchmarks."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from tasklane.backoff import Backoff

FINAL_JOB_STATUSES = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}
LOCAL_ENDPOINTS = Path(__file__).resolve().parent.parent / ".local" / "endpoints.json"
# Throttled (429) and failed (5xx) requests are sent again, at most this many times in all, after the wait the
# answer's Retry-After asks for or else an exponential backoff with jitter; a wait over the cap is not waited.
MAX_ATTEMPTS = 5
MAX_RETRY_WAIT_SECONDS = 60.0
BACKOFF = Backoff(base_seconds=0.5, cap_seconds=MAX_RETRY_WAIT_SECONDS)
RETRIED_STATUSES = {429, 500, 502, 503, 504}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def local_endpoints(path: Path = LOCAL_ENDPOINTS) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: start the local platform with `make up`")
    return dict(json.loads(path.read_text()))


class TasklaneClient:
    def __init__(
        self,
        api_url: str,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`transport` replaces the network, e.g. with an httpx.MockTransport in tests."""
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._timeout = timeout
        self._transport = transport
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._http = httpx.Client(base_url=self.api_url, headers=headers or {}, timeout=timeout, transport=transport)

    @classmethod
    def local(cls, tenant: str | None = None) -> TasklaneClient:
        endpoints = local_endpoints()
        headers = endpoints.get("tenants", {}).get(tenant, {}).get("headers", {}) if tenant else {}
        return cls(endpoints["api_url"], headers)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        attempt = 1
        while True:
            response = self._http.request(method, path.lstrip("/"), **kwargs)
            wait = self._retry_wait(response, method, kwargs.get("headers"), attempt)
            if wait is None:
                break
            self._sleep(wait)
            attempt += 1
        if response.is_error:
            try:
                error = response.json()["error"]
                raise ApiError(response.status_code, error["code"], error["message"])
            except (ValueError, KeyError, TypeError):
                raise ApiError(response.status_code, "http_error", response.text[:500]) from None
        return response.json() if response.content else None

    def _retry_wait(
        self, response: httpx.Response, method: str, headers: dict[str, str] | None, attempt: int
    ) -> float | None:
        """Seconds to wait before sending the request again, or None to take this answer.

        A 429 was not served, so it is always sent again. A 5xx is only when sending it twice cannot do a thing
        twice: a read, a POST with an Idempotency-Key, or a 503 that says when to ask again.
        """
        status = response.status_code
        if status not in RETRIED_STATUSES or attempt >= self._max_attempts:
            return None
        asked = retry_after_seconds(response)
        keyed = any(name.lower() == "idempotency-key" for name in (headers or {}))
        if status != 429 and method.upper() not in SAFE_METHODS and not keyed and asked is None:
            return None
        if asked is not None:
            return asked if asked <= MAX_RETRY_WAIT_SECONDS else None
        return BACKOFF.delay(attempt)

    def submit(self, job: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        return dict(self.request("POST", "jobs", json=job, headers=_key_header(idempotency_key)))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"jobs/{job_id}"))

    def tasks(self, job_id: str, status: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Every task of the job, following next_token."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if status:
                params["status"] = status
            if token:
                params["next_token"] = token
            page = self.request("GET", f"jobs/{job_id}/tasks", params=params)
            items += page["items"]
            token = page.get("next_token")
            if not token:
                return items

    def task(self, job_id: str, task_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"jobs/{job_id}/tasks/{task_id}"))

    def tasks_page(
        self, job_id: str, status: str | None = None, limit: int = 100, next_token: str | None = None
    ) -> dict[str, Any]:
        """One page of the job's tasks: {"items": [...], "next_token": ...}."""
        params = _params(status=status, limit=limit, next_token=next_token)
        return dict(self.request("GET", f"jobs/{job_id}/tasks", params=params))

    def jobs(self, status: str | None = None, limit: int = 20, next_token: str | None = None) -> dict[str, Any]:
        """One page of the tenant's jobs, newest first: {"items": [...], "next_token": ...}."""
        return dict(self.request("GET", "jobs", params=_params(status=status, limit=limit, next_token=next_token)))

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self.request("POST", f"jobs/{job_id}/cancel"))

    def retry(self, job_id: str) -> dict[str, Any]:
        """Re-run the job's FAILED tasks."""
        return dict(self.request("POST", f"jobs/{job_id}/retry"))

    def submit_large(self, body: bytes, idempotency_key: str | None = None) -> dict[str, Any]:
        """Submit a job spec too large for one request: upload it with the presigned POST, then submit by manifest.

        With an idempotency key, the upload is idempotent too, under a key derived from the job's key and the
        spec's bytes: resubmitting the same spec reuses the upload (so POST /jobs replays the same job), while a
        different spec under the same key gets a new upload, and so the API's 409.
        """
        upload_key = None
        if idempotency_key is not None:
            upload_key = "upload-" + hashlib.sha256(idempotency_key.encode() + b"\0" + body).hexdigest()
        upload = dict(self.request("POST", "jobs/uploads", headers=_key_header(upload_key)))
        response = self.upload(upload, body)
        manifest = {"manifest": {"upload_id": upload["upload_id"]}}
        if response.is_error:
            failed = ApiError(
                response.status_code, "upload_failed", f"uploading the job spec to S3 failed: {response.text[:300]}"
            )
            if idempotency_key is None:
                raise failed
            try:  # a replay whose presigned URL has expired: the job may exist already under this key
                return self.submit(manifest, idempotency_key)
            except ApiError:
                raise failed from None
        return self.submit(manifest, idempotency_key)

    def upload(self, upload: dict[str, Any], body: bytes) -> httpx.Response:
        """POST `body` with the form POST /jobs/uploads answered: its signed fields first, then the file.

        The form carries its own credentials: the API's Authorization header must not go to S3.
        """
        content_type = upload.get("content_type", "application/json")
        with httpx.Client(timeout=max(self._timeout, 300.0), transport=self._transport) as s3:
            return s3.post(
                upload["url"], data=upload.get("fields", {}), files={"file": ("job.json", body, content_type)}
            )

    def dead_letters(self, limit: int | None = None) -> dict[str, Any]:
        """The tenant's dead-lettered tasks grouped by error fingerprint: {"groups", "total", "truncated"}."""
        return dict(self.request("GET", "dlq", params=_params(limit=limit)))

    def redrive(self, selection: dict[str, Any]) -> dict[str, Any]:
        """Run dead tasks again; selection holds job_id, fingerprint and/or task_ids (and optionally payload)."""
        return dict(self.request("POST", "dlq/redrive", json=selection))

    def wait(self, job_id: str, timeout: float = 300.0, interval: float = 0.5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in FINAL_JOB_STATUSES:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout:.0f}s: {job['counts']}")
            time.sleep(interval)


def _params(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _key_header(idempotency_key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": idempotency_key} if idempotency_key else {}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The wait a Retry-After header asks for, in seconds (it may also be an HTTP date); None without one."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
