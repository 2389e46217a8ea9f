"""The synchronous client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from tasklane_sdk import _core
from tasklane_sdk._core import ApiError


class Client(_core.ClientBase[httpx.BaseTransport, Callable[[float], None]]):
    """The job API as one tenant."""

    default_sleep = staticmethod(time.sleep)

    def _open(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, headers=self._headers, timeout=self._timeout,
                            transport=self._transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call, retried as the retry policy allows; the answer's JSON, or ApiError."""
        request = self._http.build_request(method, path.lstrip("/"), **kwargs)
        for attempt in range(1, self.retry_policy.attempts + 1):
            try:
                response = self._http.send(request)
            except httpx.TransportError as error:
                if attempt == self.retry_policy.attempts or not _core.should_retry(request, error):
                    raise
                self._sleep(self.retry_policy.delay(attempt))
                continue
            if (wait := _core.retry_wait(self.retry_policy, attempt, request, response)) is not None:
                self._sleep(wait)
                continue
            return _core.body_of(response)
        raise AssertionError("unreachable: the last attempt returns or raises")

    # Jobs

    def submit(self, job: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Submit a job ({"name", "tasks", ...}); {"job_id", "status"}. Without a key, one is made, so that the
        client's own retries never create the job twice."""
        key = idempotency_key or _core.new_idempotency_key()
        return dict(self.request("POST", "jobs", json=job, headers=_core.key_header(key)))

    def submit_large(self, spec: bytes | dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Submit a spec too large for one request (over about 5 MB): upload it to S3, then submit it by
        reference. Idempotent under `idempotency_key` like `submit`."""
        body = spec if isinstance(spec, bytes) else json.dumps(spec).encode()
        key = idempotency_key or _core.new_idempotency_key()
        upload = dict(self.request("POST", "jobs/uploads", headers=_core.key_header(_core.upload_key(key, body))))
        # The presigned URL or form carries its own credentials: the API's Authorization must not go to S3.
        with httpx.Client(timeout=max(self._timeout, 300.0), transport=self._transport) as s3:
            response = s3.send(_core.upload_request(s3.build_request, upload, body))
        manifest = _core.manifest_submission(upload)
        if response.is_error:
            try:  # a replay whose presigned URL has expired: the job may exist already under this key
                return self.submit(manifest, key)
            except ApiError:
                raise _core.upload_failed(response) from None
        return self.submit(manifest, key)

    def job(self, job_id: str) -> dict[str, Any]:
        """The job with its exact counts."""
        return dict(self.request("GET", f"jobs/{job_id}"))

    def jobs(self, status: str | None = None, limit: int = 20, next_token: str | None = None) -> dict[str, Any]:
        """One page of the tenant's jobs, newest first: {"items": [...], "next_token": ...}."""
        return dict(self.request("GET", "jobs", params=_core.params(status=status, limit=limit,
                                                                   next_token=next_token)))

    def iter_jobs(self, status: str | None = None, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every job of the tenant, newest first, page by page."""
        token: str | None = None
        while True:
            page = self.jobs(status=status, limit=page_size, next_token=token)
            yield from page["items"]
            if not (token := page.get("next_token")):
                return

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self.request("POST", f"jobs/{job_id}/cancel"))

    def retry(self, job_id: str) -> dict[str, Any]:
        """Run the finished job's FAILED tasks again."""
        return dict(self.request("POST", f"jobs/{job_id}/retry"))

    def wait(
        self, job_id: str, timeout: float = 300.0, interval: float = 0.5,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the job is final and return it; `on_progress(job)` is called with each poll whose counts
        changed. JobWaitTimeout after `timeout` seconds (the job goes on)."""
        waiting = _core.Waiting(timeout, on_progress)
        while not waiting.finished(job := self.job(job_id)):
            self._sleep(interval)
        return job

    # Tasks and results

    def tasks_page(
        self, job_id: str, status: str | None = None, limit: int = 100, next_token: str | None = None
    ) -> dict[str, Any]:
        """One page of the job's tasks: {"items": [...], "next_token": ...}."""
        query = _core.params(status=status, limit=limit, next_token=next_token)
        return dict(self.request("GET", f"jobs/{job_id}/tasks", params=query))

    def iter_tasks(self, job_id: str, status: str | None = None, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every task of the job (or those in `status`), page by page, without holding them all."""
        token: str | None = None
        while True:
            page = self.tasks_page(job_id, status=status, limit=page_size, next_token=token)
            yield from page["items"]
            if not (token := page.get("next_token")):
                return

    def tasks(self, job_id: str, status: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Every task of the job, as a list."""
        return list(self.iter_tasks(job_id, status=status, page_size=limit))

    def iter_results(self, job_id: str) -> Iterator[tuple[str, Any]]:
        """(task_id, result) of each SUCCEEDED task."""
        for task in self.iter_tasks(job_id, status="SUCCEEDED"):
            yield task["task_id"], task.get("result")

    def task(self, job_id: str, task_id: str) -> dict[str, Any]:
        """One task in full: payload, attempts and their errors, result."""
        return dict(self.request("GET", f"jobs/{job_id}/tasks/{task_id}"))

    # Operators (an admin key): a tenant's API keys

    def create_key(self, tenant: str, name: str, admin: bool = False) -> dict[str, Any]:
        """A new API key of `tenant`; the answer's `secret` is shown this once."""
        return dict(self.request("POST", f"admin/tenants/{tenant}/keys", json={"name": name, "admin": admin}))

    def keys(self, tenant: str) -> list[dict[str, Any]]:
        """`tenant`'s keys, revoked ones included (never their secrets)."""
        return list(self.request("GET", f"admin/tenants/{tenant}/keys")["keys"])

    def revoke_key(self, tenant: str, key_id: str) -> dict[str, Any]:
        """Revoke a key: refused within a minute everywhere, its live connections closed now."""
        return dict(self.request("DELETE", f"admin/tenants/{tenant}/keys/{key_id}"))

    # Dead letters

    def dead_letters(self, limit: int | None = None) -> dict[str, Any]:
        """The tenant's dead-lettered tasks grouped by error fingerprint: {"groups", "total", "truncated"}."""
        return dict(self.request("GET", "dlq", params=_core.params(limit=limit)))

    def redrive(self, selection: dict[str, Any]) -> dict[str, Any]:
        """Run dead tasks again; `selection` holds job_id, fingerprint and/or task_ids (and optionally payload)."""
        return dict(self.request("POST", "dlq/redrive", json=selection))

