"""Property-based fuzzing of the deployed API from its own OpenAPI document (schemathesis).

Every generated request goes through API Gateway and the authorizer as tenant acme: no answer may be a
5xx, and every answer must match the schema the document declares for its status.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance


@pytest.fixture(scope="session")
def api_schema(endpoints: dict[str, Any]) -> Any:
    # Loaded when the test runs, not at import, so collecting the suite needs no platform. A first call may meet
    # a cold function on a busy machine: allow it time.
    return schemathesis.openapi.from_url(endpoints["api_url"] + "openapi.json", timeout=60)


schema = schemathesis.pytest.from_fixture("api_schema")


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
