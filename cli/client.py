"""The job API's client for jobctl, the demo, the tests and the benchmarks: the SDK's (sdk/, tasklane-sdk), plus
where the local platform's endpoints file is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasklane_sdk import FINAL_JOB_STATUSES, ApiError, Client, RetryPolicy

TasklaneClient = Client
LOCAL_ENDPOINTS = Path(__file__).resolve().parent.parent / ".local" / "endpoints.json"

__all__ = ["FINAL_JOB_STATUSES", "LOCAL_ENDPOINTS", "ApiError", "RetryPolicy", "TasklaneClient", "local_endpoints"]


def local_endpoints(path: Path = LOCAL_ENDPOINTS) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: start the local platform with `make up`")
    return dict(json.loads(path.read_text()))
