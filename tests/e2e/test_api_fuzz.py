"""Property-based fuzzing of the deployed API from its own OpenAPI document (schemathesis).

Every generated request goes through API Gateway and the authorizer as tenant acme: no answer may be a
5xx, and every answer must match the schema the document declares for its status.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from scripts.openapi_document import document

# The document built in-process from the API's code, so collecting the suite needs no platform; the first test
# checks that the deployed API serves the very same one.
DOCUMENT = document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_deployed_api_serves_the_document_the_fuzzing_uses(endpoints: dict[str, Any]) -> None:
    # A first call may meet a cold function on a busy machine: allow it time.
    served = httpx.get(endpoints["api_url"] + "openapi.json", timeout=60)
    assert served.status_code == 200 and served.json() == DOCUMENT


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_answer_matches_the_schema(case: Any, endpoints: dict) -> None:
    headers = dict(endpoints["tenants"]["acme"]["headers"])
    case.call_and_validate(
        base_url=endpoints["api_url"].rstrip("/"),
        headers=headers,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        timeout=60,
    )


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def _bodies() -> list[tuple[str, Any]]:
    """Bodies no generator reaches: nested past the API's limit (64), past pydantic's (200), near json's own
    (about 1,000), and large: 5.5 MB, under Lambda's 6 MB request limit (a larger one never reaches the API)."""
    deep = [(f"deep {n}", {"name": "deep", "tasks": [{"type": "echo", "payload": _nested(n)}], "metadata": _nested(n)})
            for n in (65, 250, 900)]
    blob = "x" * (5_500_000)
    huge = [
        ("one huge payload", {"name": "huge", "tasks": [{"type": "echo", "payload": {"blob": blob}}]}),
        ("huge metadata", {"name": "huge", "tasks": [{"type": "echo"}], "metadata": {"blob": blob}}),
        ("too many tasks", {"name": "many", "tasks": [{"type": "echo"}] * 100_001}),
        ("a huge name", {"name": blob, "tasks": [{"type": "echo"}]}),
        ("a huge redrive payload", {"job_id": "x", "payload": {"blob": blob}}),
    ]
    return deep + huge


# Every route that takes a JSON body (test_every_route_with_a_body_is_sent_them keeps this list whole), with
# its path parameters: acme is no operator, so the admin route must refuse the bodies with its 4xx too.
BODY_ROUTES = {"/jobs": {}, "/dlq/redrive": {}, "/admin/tenants/{tenant}/keys": {"tenant": "acme"}}


def test_every_route_with_a_body_is_sent_them() -> None:
    bodied = [op for op in (result.ok() for result in schema.get_all_operations()) if list(op.body)]
    assert sorted(op.path for op in bodied) == sorted(BODY_ROUTES)
    assert {op.method.upper() for op in bodied} == {"POST"}


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize(("name", "body"), _bodies(), ids=[name for name, _ in _bodies()])
def test_deep_and_huge_bodies_get_a_4xx_in_the_documented_shape(
    path: str, name: str, body: Any, endpoints: dict
) -> None:
    case = schema[path]["POST"].Case(body=body, media_type="application/json", path_parameters=BODY_ROUTES[path])
    response = case.call_and_validate(
        base_url=endpoints["api_url"].rstrip("/"),
        headers=dict(endpoints["tenants"]["acme"]["headers"]),
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        timeout=120,
    )
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:300])
