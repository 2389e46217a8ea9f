"""A small typed client of the job API over httpx, shared by jobctl, the demo, the tests and the benchmarks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

FINAL_JOB_STATUSES = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}
LOCAL_ENDPOINTS = Path(__file__).resolve().parent.parent / ".local" / "endpoints.json"


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
    def __init__(self, api_url: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._http = httpx.Client(base_url=self.api_url, headers=headers or {}, timeout=timeout)

    @classmethod
    def local(cls, tenant: str | None = None) -> TasklaneClient:
        endpoints = local_endpoints()
        headers = endpoints.get("tenants", {}).get(tenant, {}).get("headers", {}) if tenant else {}
        return cls(endpoints["api_url"], headers)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path.lstrip("/"), **kwargs)
        if response.is_error:
            try:
                error = response.json()["error"]
                raise ApiError(response.status_code, error["code"], error["message"])
            except (ValueError, KeyError, TypeError):
                raise ApiError(response.status_code, "http_error", response.text[:500]) from None
        return response.json() if response.content else None

    def submit(self, job: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return dict(self.request("POST", "jobs", json=job, headers=headers))

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

    def wait(self, job_id: str, timeout: float = 300.0, interval: float = 0.5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in FINAL_JOB_STATUSES:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout:.0f}s: {job['counts']}")
            time.sleep(interval)
