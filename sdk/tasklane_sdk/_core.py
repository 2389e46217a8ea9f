"""What the sync and async clients share: errors, the retry policy, and how requests and answers are read.

Neither client does I/O here, so both behave the same by construction: which answers are retried, how long to
wait, how an error reads.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import httpx

FINAL_JOB_STATUSES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"})
# Answers that say "not now" rather than "no": worth another try of a request that is safe to repeat.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiError(Exception):
    """The API answered with an error: its HTTP status, its error code and its message."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        # Seconds the API asked the caller to wait (Retry-After), when it said.
        self.retry_after = retry_after


class JobWaitTimeout(TimeoutError):
    """`wait` gave up before the job reached a final status; the job goes on."""

    def __init__(self, job: dict[str, Any], timeout: float) -> None:
        super().__init__(f"job {job['job_id']} still {job['status']} after {timeout:.0f}s: {job.get('counts')}")
        self.job = job


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a request the API refused for now (429, 5xx) or that never arrived.

    A request is retried only when repeating it is safe: a read, or a write that carries an Idempotency-Key
    (`submit` always sends one). Waits grow exponentially with full jitter, and a Retry-After from the API is
    honoured; one longer than `max_delay` is not waited for, the error is raised at once.
    """

    attempts: int = 5  # tries in all, the first one included
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry): what the API's Retry-After asked
        for, or else a jittered exponential backoff."""
        if retry_after is not None:
            return min(self.max_delay, retry_after)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (retry - 1)))


NO_RETRIES = RetryPolicy(attempts=1)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    date = response.headers.get("Date")
    now = parsedate_to_datetime(date) if date else None
    if now is None:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def repeatable(request: httpx.Request) -> bool:
    return request.method in SAFE_METHODS or "Idempotency-Key" in request.headers


def should_retry(request: httpx.Request, outcome: httpx.Response | httpx.TransportError) -> bool:
    if isinstance(outcome, httpx.ConnectError | httpx.ConnectTimeout):
        return True  # the request never reached the API
    if isinstance(outcome, httpx.TransportError):
        return repeatable(request)
    if outcome.status_code == 429:
        return True  # refused before anything was done
    return outcome.status_code in RETRYABLE_STATUSES and repeatable(request)


def retry_wait(policy: RetryPolicy, attempt: int, request: httpx.Request, response: httpx.Response) -> float | None:
    """Seconds to wait before trying `request` again after `response`; None when it is not to be tried again:
    not safe to repeat, or a Retry-After longer than the policy waits (a daily quota, say: waiting won't help)."""
    if attempt >= policy.attempts or not should_retry(request, response):
        return None
    after = retry_after_seconds(response)
    if after is not None and after > policy.max_delay:
        return None
    return policy.delay(attempt, after)


def error_of(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, error["code"], error["message"], retry_after_seconds(response))
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "http_error", response.text[:500], retry_after_seconds(response))


def body_of(response: httpx.Response) -> Any:
    if response.is_error:
        raise error_of(response)
    return response.json() if response.content else None


def params(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def key_header(idempotency_key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": idempotency_key} if idempotency_key else {}


def new_idempotency_key() -> str:
    """A fresh key per submission: the client's own retries of it can then never create a second job."""
    return f"sdk-{uuid.uuid4().hex}"


def upload_key(idempotency_key: str | None, body: bytes) -> str | None:
    """The upload's own key, from the job's key and the spec's bytes: resubmitting the same spec reuses the
    upload (so POST /jobs replays the same job), while a different spec under the same key gets a new upload,
    and so the API's 409."""
    if idempotency_key is None:
        return None
    return "upload-" + hashlib.sha256(idempotency_key.encode() + b"\0" + body).hexdigest()


def upload_failed(response: httpx.Response) -> ApiError:
    return ApiError(response.status_code, "upload_failed",
                    f"uploading the job spec to S3 failed: {response.text[:300]}")


def upload_request(build: Callable[..., httpx.Request], upload: dict[str, Any], body: bytes) -> httpx.Request:
    """The request that puts the spec where POST /jobs/uploads said, with `build` (a client's build_request)."""
    if upload.get("fields"):  # a presigned POST: its form fields, then the file
        file = {"file": ("job.json", body, "application/json")}
        return build("POST", upload["url"], data=upload["fields"], files=file)
    return build("PUT", upload["url"], content=body, headers={"Content-Type": "application/json"})


def manifest_submission(upload: dict[str, Any]) -> dict[str, Any]:
    return {"manifest": {"upload_id": upload["upload_id"]}}


class Waiting:
    """One wait for a job: when it gives up, and which counts were reported last (both clients poll with it)."""

    def __init__(self, timeout: float, on_progress: Callable[[dict[str, Any]], None] | None) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.on_progress = on_progress
        self.seen: dict[str, Any] | None = None

    def finished(self, job: dict[str, Any]) -> bool:
        """Report the poll's job if its counts changed; True once it is final; JobWaitTimeout past the deadline."""
        if self.on_progress is not None and job.get("counts") != self.seen:
            self.seen = job.get("counts")
            self.on_progress(job)
        if job["status"] in FINAL_JOB_STATUSES:
            return True
        if time.monotonic() > self.deadline:
            raise JobWaitTimeout(job, self.timeout)
        return False


def finished_tasks(counts: dict[str, Any]) -> int:
    return int(counts.get("succeeded", 0)) + int(counts.get("failed", 0)) + int(counts.get("cancelled", 0))


TransportT = TypeVar("TransportT")
SleepT = TypeVar("SleepT")


class ClientBase(Generic[TransportT, SleepT]):
    """What both clients are made of: where the API is, who calls it, how long to wait, how to retry."""

    default_sleep: SleepT

    def __init__(
        self,
        api_url: str,
        headers: dict[str, str] | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: TransportT | None = None,
        sleep: SleepT | None = None,
    ) -> None:
        """`headers` carry the credentials (or pass `api_key`); `transport` replaces the network (an
        httpx.MockTransport in tests); `sleep` replaces the waits between retries."""
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.retry_policy = retry or RetryPolicy()
        self._timeout = timeout
        self._transport = transport
        self._sleep: SleepT = sleep if sleep is not None else type(self).default_sleep
        auth = {"Authorization": f"ApiKey {api_key}"} if api_key else {}
        self._headers = {**auth, **(headers or {})}
        self._http = self._open()

    def _open(self) -> Any:
        """The httpx client this kind of client talks through."""
        raise NotImplementedError
