"""boto3 clients with botocore's standard retry mode, created once per process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from tasklane.aws.request_counting import count_requests

# Standard mode retries throttling and 5xx with exponential backoff and jitter; 8 attempts ride out a burst.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=32)


# Requests in flight at once for one bulk operation (a dispatch's writes and sends); within the pool size.
PARALLEL_REQUESTS = 8


@cache
def parallel() -> ThreadPoolExecutor:
    """One pool per process for bulk calls; boto3 clients are safe to share between threads."""
    return ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS, thread_name_prefix="aws")


@cache
def session() -> boto3.session.Session:
    """One session per process: its loader caches the service models every client needs."""
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    # count_requests is a no-op unless TASKLANE_REQUEST_COUNTS_DIR is set (the benchmarks set it).
    return count_requests(session().client(service, config=RETRY_CONFIG))
