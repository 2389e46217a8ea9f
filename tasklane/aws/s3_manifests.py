"""Job manifests (the submitted task list) on S3, read back by the dispatcher."""

from __future__ import annotations

import json
from typing import Any

from tasklane.aws.clients import lazy_client
from tasklane.dispatch import payload_key
from tasklane.models import JobSpec
from tasklane.ports import UploadForm

UPLOAD_CONTENT_TYPE = "application/json"


class S3ManifestStore:
    def __init__(self, bucket: str, s3: Any = None) -> None:
        self.bucket = bucket
        self._s3 = s3 or lazy_client("s3")

    @staticmethod
    def key(job_id: str) -> str:
        return f"manifests/{job_id}.json"

    def put(self, job_id: str, spec: JobSpec) -> None:
        self.put_json(job_id, spec.model_dump_json().encode())

    def put_json(self, job_id: str, manifest: bytes) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=self.key(job_id), Body=manifest, ContentType="application/json")

    def get(self, job_id: str) -> JobSpec:
        body = self._s3.get_object(Bucket=self.bucket, Key=self.key(job_id))["Body"].read()
        return JobSpec.model_validate_json(body)

    @staticmethod
    def upload_key(tenant: str, upload_id: str) -> str:
        return f"uploads/{tenant}/{upload_id}.json"

    def upload_form(self, tenant: str, upload_id: str, expires_in: int, max_bytes: int) -> UploadForm:
        # The policy binds the key, the content type and the size: S3 refuses any other upload to this form.
        post = self._s3.generate_presigned_post(
            Bucket=self.bucket,
            Key=self.upload_key(tenant, upload_id),
            Fields={"Content-Type": UPLOAD_CONTENT_TYPE},
            Conditions=[{"Content-Type": UPLOAD_CONTENT_TYPE}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
        return UploadForm(url=str(post["url"]), fields={k: str(v) for k, v in post["fields"].items()})

    def upload_size(self, tenant: str, upload_id: str) -> int | None:
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=self.upload_key(tenant, upload_id))
        except self._s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])

    def read_upload(self, tenant: str, upload_id: str) -> bytes | None:
        try:
            return bytes(self._s3.get_object(Bucket=self.bucket, Key=self.upload_key(tenant, upload_id))["Body"].read())
        except self._s3.exceptions.NoSuchKey:
            return None

    def put_payload(self, job_id: str, task_id: str, payload: dict[str, Any]) -> str:
        key = payload_key(job_id, task_id)
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(payload).encode())
        return key

    def get_payload(self, ref: str) -> dict[str, Any]:
        return dict(json.loads(self._s3.get_object(Bucket=self.bucket, Key=ref)["Body"].read()))
