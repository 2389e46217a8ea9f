"""Uploading a job spec the way a client does, with the form POST /jobs/uploads answers."""

from __future__ import annotations

from typing import Any

import httpx


def post_upload(upload: dict[str, Any], body: bytes) -> httpx.Response:
    """What a client does with the answer of POST /jobs/uploads: the presigned POST's fields, then the file
    (without the API's Authorization header: the form carries its own credentials)."""
    with httpx.Client(timeout=60) as s3:
        return s3.post(upload["url"], data=upload["fields"],
                       files={"file": ("job.json", body, upload.get("content_type", "application/json"))})
