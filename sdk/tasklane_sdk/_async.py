"""The asynchronous client: the same calls as `Client`, awaited, for asyncio applications."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from tasklane_sdk import _core
from tasklane_sdk._core import ApiError


class AsyncClient(_core.ClientBase[httpx.AsyncBaseTransport, Callable[[float], Awaitable[None]]]):
    """The job API as one tenant, over httpx.AsyncClient; see `Client` for what each call does."""

    default_sleep = staticmethod(asyncio.sleep)

    def _open(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api_url, headers=self._headers, timeout=self._timeout,
                                 transport=self._transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        request = self._http.build_request(method, path.lstrip("/"), **kwargs)
        for attempt in range(1, self.retry_policy.attempts + 1):
            try:
                response = await self._http.send(request)
            except httpx.TransportError as error:
                if attempt == self.retry_policy.attempts or not _core.should_retry(request, error):
                    raise
                await self._sleep(self.retry_policy.delay(attempt))
                continue
            if (wait := _core.retry_wait(self.retry_policy, attempt, request, response)) is not None:
                await self._sleep(wait)
                continue
            return _core.body_of(response)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def submit(self, job: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        key = idempotency_key or _core.new_idempotency_key()
        return dict(await self.request("POST", "jobs", json=job, headers=_core.key_header(key)))

    async def submit_large(self, spec: bytes | dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        body = spec if isinstance(spec, bytes) else json.dumps(spec).encode()
        key = idempotency_key or _core.new_idempotency_key()
        upload_headers = _core.key_header(_core.upload_key(key, body))
        upload = dict(await self.request("POST", "jobs/uploads", headers=upload_headers))
        async with httpx.AsyncClient(timeout=max(self._timeout, 300.0), transport=self._transport) as s3:
            response = await s3.send(_core.upload_request(s3.build_request, upload, body))
        manifest = _core.manifest_submission(upload)
        if response.is_error:
            try:
                return await self.submit(manifest, key)
            except ApiError:
                raise _core.upload_failed(response) from None
        return await self.submit(manifest, key)

    async def job(self, job_id: str) -> dict[str, Any]:
        return dict(await self.request("GET", f"jobs/{job_id}"))

    async def jobs(self, status: str | None = None, limit: int = 20, next_token: str | None = None) -> dict[str, Any]:
        query = _core.params(status=status, limit=limit, next_token=next_token)
        return dict(await self.request("GET", "jobs", params=query))

    async def iter_jobs(self, status: str | None = None, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = await self.jobs(status=status, limit=page_size, next_token=token)
            for job in page["items"]:
                yield job
            if not (token := page.get("next_token")):
                return

    async def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(await self.request("POST", f"jobs/{job_id}/cancel"))

    async def retry(self, job_id: str) -> dict[str, Any]:
        return dict(await self.request("POST", f"jobs/{job_id}/retry"))

    async def wait(
        self, job_id: str, timeout: float = 300.0, interval: float = 0.5,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        waiting = _core.Waiting(timeout, on_progress)
        while not waiting.finished(job := await self.job(job_id)):
            await self._sleep(interval)
        return job

    async def tasks_page(
        self, job_id: str, status: str | None = None, limit: int = 100, next_token: str | None = None
    ) -> dict[str, Any]:
        query = _core.params(status=status, limit=limit, next_token=next_token)
        return dict(await self.request("GET", f"jobs/{job_id}/tasks", params=query))

    async def iter_tasks(
        self, job_id: str, status: str | None = None, page_size: int = 1000
    ) -> AsyncIterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = await self.tasks_page(job_id, status=status, limit=page_size, next_token=token)
            for task in page["items"]:
                yield task
            if not (token := page.get("next_token")):
                return

    async def iter_results(self, job_id: str) -> AsyncIterator[tuple[str, Any]]:
        async for task in self.iter_tasks(job_id, status="SUCCEEDED"):
            yield task["task_id"], task.get("result")

    async def task(self, job_id: str, task_id: str) -> dict[str, Any]:
        return dict(await self.request("GET", f"jobs/{job_id}/tasks/{task_id}"))

    async def create_key(self, tenant: str, name: str, admin: bool = False) -> dict[str, Any]:
        return dict(await self.request("POST", f"admin/tenants/{tenant}/keys", json={"name": name, "admin": admin}))

    async def keys(self, tenant: str) -> list[dict[str, Any]]:
        return list((await self.request("GET", f"admin/tenants/{tenant}/keys"))["keys"])

    async def revoke_key(self, tenant: str, key_id: str) -> dict[str, Any]:
        return dict(await self.request("DELETE", f"admin/tenants/{tenant}/keys/{key_id}"))

    async def dead_letters(self, limit: int | None = None) -> dict[str, Any]:
        return dict(await self.request("GET", "dlq", params=_core.params(limit=limit)))

    async def redrive(self, selection: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.request("POST", "dlq/redrive", json=selection))
