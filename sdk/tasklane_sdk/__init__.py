"""tasklane-sdk: the Python client of the Tasklane job API.

    from tasklane_sdk import Client

    with Client("https://abc.execute-api.eu-west-1.amazonaws.com/v1/", api_key="tlk_...") as tasklane:
        job = tasklane.submit({"name": "resize", "tasks": [{"type": "echo", "payload": {"n": 1}}]})
        done = tasklane.wait(job["job_id"], on_progress=lambda j: print(j["counts"]))

`AsyncClient` offers the same calls for asyncio. Every call retries 429 and 5xx answers that are safe to repeat,
honouring Retry-After (RetryPolicy). docs/SDK.md is the guide.
"""

from tasklane_sdk._async import AsyncClient
from tasklane_sdk._core import (
    FINAL_JOB_STATUSES,
    NO_RETRIES,
    ApiError,
    JobWaitTimeout,
    RetryPolicy,
    finished_tasks,
)
from tasklane_sdk._sync import Client

__all__ = [
    "FINAL_JOB_STATUSES",
    "NO_RETRIES",
    "ApiError",
    "AsyncClient",
    "Client",
    "JobWaitTimeout",
    "RetryPolicy",
    "finished_tasks",
]
