"""boto3 clients with botocore's standard retry mode, created once per process."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from tasklane.aws.request_counting import count_requests

# Standard mode retries throttling and 5xx with exponential backoff and jitter; 8 attempts ride out a burst.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=32)
# S3 signs with SigV4, presigned URLs and POST forms included (botocore may otherwise presign with SigV2).
SERVICE_CONFIGS = {"s3": RETRY_CONFIG.merge(Config(signature_version="s3v4"))}


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


_creating = threading.Lock()


@cache
def client(service: str) -> Any:
    # A session must not build clients on two threads at once; a rare second build is simply dropped.
    with _creating:
        # count_requests is a no-op unless TASKLANE_REQUEST_COUNTS_DIR is set (the benchmarks set it).
        return count_requests(session().client(service, config=SERVICE_CONFIGS.get(service, RETRY_CONFIG)))


class _LazyClient:
    """Stands for client(service) and builds it on first use."""

    def __init__(self, service: str) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self._service), name)


def lazy_client(service: str) -> Any:
    """A client built when first called: a cold start pays only for the services its request uses
    (building one loads its service model, 20 to 40 ms each)."""
    return _LazyClient(service)
