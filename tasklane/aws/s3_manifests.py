"""Job manifests (the submitted task list) on S3, read back by the dispatcher."""

from __future__ import annotations

from typing import Any

from tasklane.aws.clients import client
from tasklane.models import JobSpec


class S3ManifestStore:
    def __init__(self, bucket: str, s3: Any = None) -> None:
        self.bucket = bucket
        self._s3 = s3 or client("s3")

    @staticmethod
    def key(job_id: str) -> str:
        return f"manifests/{job_id}.json"

    def put(self, job_id: str, spec: JobSpec) -> None:
        self._s3.put_object(
            Bucket=self.bucket, Key=self.key(job_id), Body=spec.model_dump_json().encode(),
            ContentType="application/json",
        )

    def get(self, job_id: str) -> JobSpec:
        body = self._s3.get_object(Bucket=self.bucket, Key=self.key(job_id))["Body"].read()
        return JobSpec.model_validate_json(body)
