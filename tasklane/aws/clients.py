"""boto3 clients with botocore's standard retry mode, created once per process."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from tasklane.aws.request_counting import count_requests

# Standard mode retries throttling and 5xx with exponential backoff and jitter; 8 attempts ride out a burst.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=32)


@cache
def client(service: str) -> Any:
    # count_requests is a no-op unless TASKLANE_REQUEST_COUNTS_DIR is set (the benchmarks set it).
    return count_requests(boto3.session.Session().client(service, config=RETRY_CONFIG))  # type: ignore[call-overload]
