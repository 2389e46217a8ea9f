"""The job API's handler driven in-process, for the unit tests (the `api` fixture in conftest.py builds one).

A module of its own, not conftest.py, so that tests can import it by name whatever other conftest files the
run has loaded (plain `pytest` from the root collects the infrastructure suite beside this one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fakes import RecordingWorkflow
from lambda_events import TENANT, FakeLambdaContext, api_event

from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.jobs import JobServices

BUCKET = "tasklane-manifests-test"


@dataclass
class Api:
    """The job API's Lambda handler over moto, with recording workflows; `call` answers (status, JSON body)."""

    services: JobServices
    workflow: RecordingWorkflow  # starts executions
    resumer: RecordingWorkflow  # interrupts a waiting execution (cancel)
    store: DynamoJobStore
    manifests: S3ManifestStore

    def call(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None, tenant: str = TENANT, authorizer: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        from lambdas.api import handler

        event = api_event(method, path, body, query, headers=headers, tenant=tenant, authorizer=authorizer)
        response = handler.lambda_handler(event, FakeLambdaContext())
        return response["statusCode"], json.loads(response["body"])
