"""Lambda events and contexts as AWS delivers them, built for tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


@dataclass
class FakeLambdaContext:
    function_name: str = "tasklane-test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:tasklane-test"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "11111111-2222-3333-4444-555555555555"
    log_group_name: str = "/aws/lambda/tasklane-test"
    log_stream_name: str = "2026/01/01/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000  # a fresh runner invocation: its whole timeout


TENANT = "acme"
SUBJECT = "key:abc"


def authorizer_context(tenant: str = TENANT, subject: str = SUBJECT) -> dict[str, Any]:
    """What API Gateway puts in requestContext.authorizer once the TOKEN authorizer allowed the call."""
    return {"tenant": tenant, "subject": subject, "method": "api_key", "principalId": subject}


def api_event(method: str, path: str, body: str | dict[str, Any] | None = None,
              query: dict[str, str] | None = None, resource: str | None = None,
              headers: dict[str, str] | None = None,
              authorizer: dict[str, Any] | None = None, tenant: str = TENANT) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event; `body` as a dict is sent as JSON, as a str is sent verbatim.

    The caller is `tenant` as the authorizer established it, unless `authorizer` replaces that context
    ({} for a request that bypassed the authorizer).
    """
    raw = json.dumps(body) if isinstance(body, dict) else body
    all_headers = {"content-type": "application/json", "Host": "api.example.test", **(headers or {})}
    return {
        "resource": resource or "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "httpMethod": method,
            "path": f"/prod{path}" + (f"?{urlencode(query)}" if query else ""),
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "resourcePath": resource or "/{proxy+}",
            "stage": "prod",
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "pytest"},
            "authorizer": authorizer_context(tenant) if authorizer is None else authorizer,
        },
        "body": raw,
        "isBase64Encoded": False,
    }


def sqs_record(body: str, message_id: str, receive_count: int = 1, receipt_handle: str | None = None,
               attributes: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": receipt_handle or f"rh-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1767225600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1767225600001",
        },
        "messageAttributes": {
            name: {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": "String"}
            for name, value in (attributes or {}).items()
        },
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tasklane-short",
        "awsRegion": "us-east-1",
    }


def authorizer_event(token: str | None) -> dict[str, Any]:
    """A TOKEN authorizer event, as API Gateway sends it for a call to GET /jobs."""
    return {
        "type": "TOKEN",
        "authorizationToken": token,
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/jobs",
    }
