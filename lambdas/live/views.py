"""What a pushed job looks like: exactly the REST API's GET /jobs/{id} body, so clients share one type."""

from __future__ import annotations

from typing import Any

from lambdas.api.schemas import JobOut
from tasklane.models import Job


def job_view(job: Job) -> dict[str, Any]:
    return JobOut.of(job).model_dump(mode="json")
